import test from 'ava'
import { cached } from 'coop-cache'
import { withCache } from './helpers/scene.js'
import { outcome } from './helpers/board.js'

test('a computer that hangs past computeTimeout is replaced by a waiter, which computes with its own fn', (t) =>
  withCache({ name: 'timeout', threads: 1, computeTimeout: 200 }, 1, async ({ cache, board, workers: [worker] }) => {
    const hung = worker!.cached('slow', { hang: true })
    await hung.issued
    await board.computations(1)
    const waiters = Array.from({ length: 10 }, () => outcome(cached(cache, 'slow', board.fn({ value: 'from a waiter' }))))
    const [hungOutcome] = await hung.done
    t.like(hungOutcome, { ok: false, name: 'ComputeTimeoutError', code: 'ERR_COOP_CACHE_COMPUTE_TIMEOUT' })
    t.deepEqual(await Promise.all(waiters), Array(10).fill({ ok: true, value: 'from a waiter' }))
    t.is(board.computed, 2)
    t.is((await cache.stats()).failures, 1)
  }),
)

test('a timed-out computer\'s call rejects at the timeout, and its late result never replaces the value', (t) =>
  withCache({ name: 'timeout-late', threads: 1, computeTimeout: 100, nearLimit: 0 }, 1, async ({ cache, board, workers: [worker] }) => {
    const late = worker!.cached('k', { value: 'late', gate: 0 })
    await board.computations(1)
    const waiter = outcome(cached(cache, 'k', board.fn({ value: 'replacement' })))
    t.deepEqual(await waiter, { ok: true, value: 'replacement' })
    // its fn is still held, yet its call is over: nobody waits on a hung computation
    t.like((await late.done)[0], { ok: false, name: 'ComputeTimeoutError' })
    board.open(0)
    await new Promise((resolve) => setTimeout(resolve, 50))
    t.is(await cached(cache, 'k', board.fn({ value: 'must not run' })), 'replacement')
  }),
)
