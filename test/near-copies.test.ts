import test from 'ava'
import { createCache, cached } from 'coop-cache'
import { withCache } from './helpers/scene.js'

test('a thread serves repeated hits from its near copy without asking the owner', async (t) => {
  const cache = await createCache({ name: 'near', threads: 1 })
  try {
    await cached(cache, 'k', async () => ({ big: 'x'.repeat(1000) }))
    const first = await cached(cache, 'k', async () => ({ big: 'unused' })) // an owner hit: leaves a copy
    for (let i = 0; i < 100; i++) t.is(await cached(cache, 'k', async () => ({ big: 'unused' })), first)
    const stats = await cache.stats()
    t.is(stats.nearHits, 100)
    t.is(stats.hits, 101)
    t.true(stats.nearBytes > 1000)
  } finally {
    await cache.close()
  }
})

test('near copies are bounded by nearLimit in each thread and are not counted in memoryLimit', (t) =>
  withCache({ name: 'near-limit', threads: 1, nearLimit: 10_000, memoryLimit: 1_000_000 }, 1, async ({ cache, board, workers: [worker] }) => {
    for (let i = 0; i < 30; i++) await cached(cache, i, board.fn({ bytes: 1000 }))
    // each thread's copies (here: the worker's hits) stay under its own limit
    for (let i = 0; i < 30; i++) await worker!.cached(i, { bytes: 1000 }).done
    const stats = await cache.stats()
    t.true(stats.nearBytes <= 10_000, `${stats.nearBytes} near bytes`)
    t.true(stats.nearBytes > 5_000)
    t.true(stats.bytes > 30_000, 'stored bytes are the owners\', apart from near copies')
    t.is(board.computed, 30)
  }),
)

test('nearLimit: 0 sends every hit to the owner', async (t) => {
  const cache = await createCache({ name: 'near-off', threads: 1, nearLimit: 0 })
  try {
    await cached(cache, 'k', async () => 1)
    for (let i = 0; i < 10; i++) await cached(cache, 'k', async () => 2)
    t.like(await cache.stats(), { hits: 10, nearHits: 0, nearBytes: 0 })
  } finally {
    await cache.close()
  }
})

test('calls that join a request their thread already has open count as hits when it is answered from the store', async (t) => {
  const cache = await createCache({ name: 'near-joiners', threads: 1, nearLimit: 0 })
  try {
    await cached(cache, 'k', async () => 1)
    const before = await cache.stats()
    await Promise.all(Array.from({ length: 10 }, () => cached(cache, 'k', async () => 2)))
    const after = await cache.stats()
    t.is(after.hits - before.hits, 10)
    t.is(after.misses - before.misses, 0)
    t.is(after.coalesced - before.coalesced, 0)
  } finally {
    await cache.close()
  }
})
