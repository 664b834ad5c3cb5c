import test from 'ava'
import { cached } from 'coop-cache'
import { withCache } from './helpers/scene.js'
import { until } from './helpers/board.js'

const LIMIT = 64 * 1024

test('stored bytes stay within memoryLimit over a run that offers 10x the limit, from several threads', (t) =>
  withCache({ name: 'cap', memoryLimit: LIMIT, threads: 2 }, 2, async ({ cache, board, workers }) => {
    let offered = 0
    for (let round = 0; offered < 10 * LIMIT; round++) {
      // 3 threads × 4 keys × ~2 KiB each round, all distinct keys
      const calls = workers.flatMap((w, i) => Array.from({ length: 4 }, (_, k) => w.cached(['blob', round, i, k], { bytes: 2000 }).done))
      const local = Array.from({ length: 4 }, (_, k) => cached(cache, ['blob', round, 'main', k], board.fn({ bytes: 2000 })))
      const outcomes = (await Promise.all(calls)).flat()
      t.true(outcomes.every((o) => o.ok && (o.value as Uint8Array).length === 2000), 'every value is returned, stored or not')
      t.true((await Promise.all(local)).every((v) => (v as Uint8Array).length === 2000))
      offered += 12 * 2000
      const stats = await cache.stats()
      t.true(stats.bytes <= LIMIT, `round ${round}: ${stats.bytes} bytes stored, limit ${LIMIT}`)
    }
    const stats = await cache.stats()
    t.true(stats.rejected > 0)
    t.is(stats.stored + stats.rejected, stats.computes)
    t.true(stats.bytes > LIMIT / 2, 'the cache filled up to near its limit')
  }),
)

test('a value that does not fit is still returned to its computer and waiters, counted rejected, and computed again later', (t) =>
  withCache({ name: 'cap-reject', memoryLimit: 1000, threads: 1 }, 1, async ({ cache, board, workers: [worker] }) => {
    const waiting = worker!.cached('big', { bytes: 5000, gate: 0 }, 3)
    await waiting.issued
    await board.computations(1)
    const own = cached(cache, 'big', board.fn({ bytes: 5000 }))
    await until(cache, (stats) => stats.coalesced === 1)
    board.open(0)
    t.true((await waiting.done).every((o) => o.ok && (o.value as Uint8Array).length === 5000))
    t.is(((await own) as Uint8Array).length, 5000)
    const before = await cache.stats()
    t.like(before, { rejected: 1, stored: 0, entries: 0, bytes: 0 })
    await cached(cache, 'big', board.fn({ bytes: 5000 }))
    t.is(board.computed, 2)
  }),
)

test("policy 'evict' makes room by dropping least recently used entries, and stays within the limit", (t) =>
  withCache({ name: 'cap-evict', memoryLimit: 10_000, threads: 1, policy: 'evict', nearLimit: 0 }, 0, async ({ cache, board }) => {
    for (let i = 0; i < 50; i++) {
      await cached(cache, i, board.fn({ bytes: 900 }))
      const stats = await cache.stats()
      t.true(stats.bytes <= 10_000)
    }
    const stats = await cache.stats()
    t.is(stats.rejected, 0)
    t.true(stats.evicted > 0)
    t.is(stats.stored - stats.evicted, stats.entries)
    // the newest entry is still stored; the oldest was evicted
    await cached(cache, 49, board.fn({ bytes: 900 }))
    t.is(board.computed, 50)
    await cached(cache, 0, board.fn({ bytes: 900 }))
    t.is(board.computed, 51)
  }),
)

test('a reset gives every stored byte back', (t) =>
  withCache({ name: 'cap-reset', memoryLimit: LIMIT, threads: 2 }, 0, async ({ cache, board }) => {
    for (let i = 0; i < 10; i++) await cached(cache, i, board.fn({ bytes: 1000 }))
    t.true((await cache.stats()).bytes > 10_000)
    const { reset } = await import('coop-cache')
    await reset(cache, 'next')
    t.like(await cache.stats(), { bytes: 0, entries: 0 })
  }),
)

test('array keys count their prefix index, and every byte of it is given back as their entries go', async (t) => {
  const { createCache, invalidate, set } = await import('coop-cache')
  const cache = await createCache({ name: 'cap-prefixes', threads: 2, nearLimit: 0 })
  t.teardown(() => cache.close())
  // Each key makes a prefix of its own (["user",i,), which the owner's index keeps a set for.
  for (let i = 0; i < 50; i++) await cached(cache, ['user', i, 'profile'], () => ({ id: i }))
  const stored = (await cache.stats()).bytes
  // The same values under keys that share their prefixes ({ id } of the same size) count less.
  for (let i = 0; i < 50; i++) await cached(cache, ['page', 'en', i], () => ({ id: i }))
  const shared = (await cache.stats()).bytes - stored
  t.true(shared < stored, `${shared} bytes for keys under shared prefixes, ${stored} for keys under prefixes of their own`)
  // Replacing a value keeps its key's place in the index, and counts the same.
  for (let round = 0; round < 3; round++) await set(cache, ['user', 7, 'profile'], { id: 7 })
  t.is((await cache.stats()).bytes, stored + shared)
  await invalidate(cache, ['user'], { prefix: true })
  t.is((await cache.stats()).bytes, shared)
  await invalidate(cache, ['page'], { prefix: true })
  t.like(await cache.stats(), { bytes: 0, entries: 0 })
})
