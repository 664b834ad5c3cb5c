import test from 'ava'
import { createCache, cached } from 'coop-cache'
import { supervisorOf } from '../src/host/registry.js'
import { ownerOf, encodeKey } from '../src/shared/key.js'
import { withCache } from './helpers/scene.js'
import { outcome } from './helpers/board.js'

test('an owner thread that crashes is restarted, and the callers it stranded are served', (t) =>
  withCache({ name: 'owner-crash', threads: 2, nearLimit: 0 }, 1, async ({ cache, board, workers: [worker] }) => {
    const owner = ownerOf(encodeKey('page'), 2)
    const other = 'unrelated' + [...Array(20).keys()].find((i) => ownerOf(encodeKey('unrelated' + i), 2) !== owner)
    await cached(cache, other, async () => 'kept')
    // callers wait on a computation the crashing owner was coordinating
    const computing = outcome(cached(cache, 'page', board.fn({ value: 'page', gate: 0 })))
    await board.computations(1)
    const waiting = worker!.cached('page', { value: 'page' }, 10)
    await waiting.issued
    await supervisorOf(cache)!.crash(owner)
    board.open(0)
    t.deepEqual(await computing, { ok: true, value: 'page' })
    t.deepEqual(await waiting.done, Array(10).fill({ ok: true, value: 'page' }))
    // the new owner serves, and the other owner kept its entry throughout
    t.is(await cached(cache, 'page', board.fn({ value: 'page' })), 'page')
    t.is(await cached(cache, other, async () => 'recomputed'), 'kept')
    const stats = await cache.stats()
    t.true(stats.entries >= 1)
    t.true(stats.bytes <= stats.memoryLimit)
  }),
)

test('an owner that keeps crashing is given up on, and its callers get OwnerUnavailableError', async (t) => {
  const cache = await createCache({ name: 'owner-gives-up', threads: 1 })
  try {
    t.is(await cached(cache, 'a', async () => 1), 1)
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve))
    for (let i = 0; i < 7; i++) {
      await supervisorOf(cache)!.crash(0)
      await new Promise((resolve) => setTimeout(resolve, 30))
    }
    t.like(await warned, { code: 'COOP_CACHE_OWNER_GAVE_UP' })
    const error = await t.throwsAsync(cached(cache, 'b', async () => 2))
    t.like(error, { name: 'OwnerUnavailableError', code: 'ERR_COOP_CACHE_OWNER_UNAVAILABLE' })
  } finally {
    await cache.close()
  }
})
