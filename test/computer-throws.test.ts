import test from 'ava'
import { createCache, cached } from 'coop-cache'
import { withCache } from './helpers/scene.js'
import { outcome, until } from './helpers/board.js'

test('a computer that throws: every coalesced caller gets that error, and the next call computes again', (t) =>
  withCache({ name: 'throws', threads: 2 }, 2, async ({ cache, board, workers }) => {
    const failing = { throws: 'the source is down', gate: 0 }
    const computer = outcome(cached(cache, 'report', board.fn(failing)))
    await board.computations(1)
    const waiters = workers.map((w) => w.cached('report', { value: 'never used' }, 20))
    const local = Array.from({ length: 20 }, () => outcome(cached(cache, 'report', board.fn({ value: 'never used' }))))
    await Promise.all(waiters.map((w) => w.issued))
    // both workers' requests have joined the computation at the owner
    await until(cache, (stats) => stats.coalesced === 2)
    board.open(0)
    const outcomes = [await computer, ...(await Promise.all(local)), ...(await Promise.all(waiters.map((w) => w.done))).flat()]
    t.is(outcomes.length, 61)
    for (const o of outcomes) t.like(o, { ok: false, name: 'RangeError', message: 'the source is down' })
    t.is(board.computed, 1)
    // errors are not stored: the next caller computes, and succeeds
    t.is(await cached(cache, 'report', board.fn({ value: 'fine now' })), 'fine now')
    t.is(board.computed, 2)
    const stats = await cache.stats()
    t.like(stats, { failures: 1, stored: 1 }, JSON.stringify(stats))
  }),
)

test('a computer whose fn throws synchronously fails the call instead of the thread', async (t) => {
  const cache = await createCache({ name: 'throws-sync', threads: 1 })
  try {
    const error = await t.throwsAsync(
      cached(cache, 'k', () => {
        throw new TypeError('bad input')
      }),
    )
    t.is(error?.message, 'bad input')
    t.is(await cached(cache, 'k', () => 'ok'), 'ok')
  } finally {
    await cache.close()
  }
})
