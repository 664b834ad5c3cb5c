import test from 'ava'
import { createCache, cached } from 'coop-cache'
import { Board, outcome } from './helpers/board.js'
import { callerThreads } from './helpers/callers.js'

test('a computer that hangs past computeTimeout is replaced by a waiter, which computes with its own fn', async (t) => {
  const cache = await createCache({ name: 'timeout', threads: 1, computeTimeout: 200 })
  const board = new Board()
  const [worker] = await callerThreads(cache, board, 1)
  try {
    const hung = worker!.cached('slow', { hang: true })
    await hung.issued
    await board.computations(1)
    const waiters = Array.from({ length: 10 }, () => outcome(cached(cache, 'slow', board.fn({ value: 'from a waiter' }))))
    const [hungOutcome] = await hung.done
    t.like(hungOutcome, { ok: false, name: 'ComputeTimeoutError', code: 'ERR_COOP_CACHE_COMPUTE_TIMEOUT' })
    t.deepEqual(await Promise.all(waiters), Array(10).fill({ ok: true, value: 'from a waiter' }))
    t.is(board.computed, 2)
    t.is((await cache.stats()).failures, 1)
  } finally {
    await worker!.end()
    await cache.close()
  }
})

test('a timed-out computer\'s call rejects at the timeout, and its late result never replaces the value', async (t) => {
  const cache = await createCache({ name: 'timeout-late', threads: 1, computeTimeout: 100, nearLimit: 0 })
  const board = new Board()
  const [worker] = await callerThreads(cache, board, 1)
  try {
    const late = worker!.cached('k', { value: 'late', gate: 0 })
    await board.computations(1)
    const waiter = outcome(cached(cache, 'k', board.fn({ value: 'replacement' })))
    t.deepEqual(await waiter, { ok: true, value: 'replacement' })
    // its fn is still held, yet its call is over: nobody waits on a hung computation
    t.like((await late.done)[0], { ok: false, name: 'ComputeTimeoutError' })
    board.open(0)
    await new Promise((resolve) => setTimeout(resolve, 50))
    t.is(await cached(cache, 'k', board.fn({ value: 'must not run' })), 'replacement')
  } finally {
    await worker!.end()
    await cache.close()
  }
})
