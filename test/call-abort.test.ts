// A call's own signal and timeout end that call only: every other caller of the key, in this
// thread and others, still gets the value, and the key is still computed once.
import test from 'ava'
import { CallAbortedError, CallTimeoutError, cached, createCache, peek } from 'coop-cache'
import { outcome } from './helpers/board.js'
import { within } from './helpers/cluster.js'
import { withCache } from './helpers/scene.js'

const mustNotRun = (): unknown => {
  throw new Error('fn must not run')
}

test('an aborted call rejects with CallAbortedError carrying its reason; the other waiters of every thread get the value, computed once', (t) =>
  withCache({ name: 'abort-waiter', threads: 2 }, 2, async ({ cache, board, workers }) => {
    const spec = { value: 'page', gate: 0 }
    const computing = workers[0]!.cached('k', spec, 3)
    await computing.issued
    await board.computations(1)
    const waiting = workers[1]!.cached('k', spec, 3)
    const controller = new AbortController()
    const aborted = cached(cache, 'k', board.fn(spec), { signal: controller.signal })
    const others = Array.from({ length: 3 }, () => outcome(cached(cache, 'k', board.fn(spec))))
    await waiting.issued
    const reason = new Error('the user left')
    controller.abort(reason)
    const error = await t.throwsAsync(aborted, { instanceOf: CallAbortedError, code: 'ERR_COOP_CACHE_ABORTED' })
    t.is(error?.cause, reason)
    t.regex(error?.message ?? '', /aborted/)
    board.open(0)
    const outcomes = [...(await Promise.all(others)), ...(await computing.done), ...(await waiting.done)]
    t.deepEqual(outcomes, Array.from({ length: 9 }, () => ({ ok: true, value: 'page' })))
    t.is(board.computed, 1)
    t.is(board.aborted, 0, "the computation's own signal is not aborted by a caller's")
    t.is((await cache.stats()).computes, 1)
  }),
)

test('a call past its timeout rejects with CallTimeoutError, in any thread; the others get the value, computed once', (t) =>
  withCache({ name: 'abort-timeout', threads: 2 }, 2, async ({ cache, board, workers }) => {
    const spec = { value: 'page', gate: 0 }
    const computer = outcome(cached(cache, 'k', board.fn(spec)))
    await board.computations(1)
    const timedOut = cached(cache, 'k', board.fn(spec), { timeout: 100 })
    const joiner = outcome(cached(cache, 'k', board.fn(spec)))
    const workerTimedOut = workers[0]!.cached('k', spec, 2, { timeout: 100 })
    const workerWaits = workers[1]!.cached('k', spec, 2)
    const error = await t.throwsAsync(timedOut, { instanceOf: CallTimeoutError, code: 'ERR_COOP_CACHE_CALL_TIMEOUT' })
    t.true(error instanceof CallAbortedError, 'a timeout is a kind of abort')
    t.regex(error?.message ?? '', /timeout \(100 ms\)/)
    t.deepEqual(
      (await workerTimedOut.done).map((o) => (o.ok ? o : o.code)),
      ['ERR_COOP_CACHE_CALL_TIMEOUT', 'ERR_COOP_CACHE_CALL_TIMEOUT'],
    )
    board.open(0)
    const outcomes = [await computer, await joiner, ...(await workerWaits.done)]
    t.deepEqual(outcomes, Array.from({ length: 4 }, () => ({ ok: true, value: 'page' })))
    t.is(board.computed, 1)
    t.is((await cache.stats()).computes, 1)
  }),
)

test('a computing call that aborts rejects alone: its fn runs on, and every other caller gets and stores its value', (t) =>
  withCache({ name: 'abort-computer', threads: 2 }, 1, async ({ cache, board, workers: [worker] }) => {
    const spec = { value: 'page', gate: 0 }
    const controller = new AbortController()
    const computer = cached(cache, 'k', board.fn(spec), { signal: controller.signal })
    await board.computations(1)
    const waiting = worker!.cached('k', spec, 3)
    await waiting.issued
    controller.abort('no longer needed')
    const error = await t.throwsAsync(computer, { instanceOf: CallAbortedError })
    t.is(error?.cause, 'no longer needed')
    // a call of the same thread made after the abort joins the computation still under way
    const later = outcome(cached(cache, 'k', board.fn(spec)))
    board.open(0)
    t.deepEqual(await waiting.done, Array.from({ length: 3 }, () => ({ ok: true, value: 'page' })))
    t.deepEqual(await later, { ok: true, value: 'page' })
    t.is(board.aborted, 0, 'its fn was not told to stop')
    t.is(await cached(cache, 'k', mustNotRun), 'page')
    t.is(await peek(cache, 'k'), 'page')
    t.is(board.computed, 1)
    const stats = await cache.stats()
    t.is(stats.computes, 1)
    t.is(stats.stored, 1)
  }),
)

test('a call with an already aborted signal rejects at once, without computing or waiting', (t) =>
  withCache({ name: 'abort-already', threads: 1 }, 0, async ({ cache, board }) => {
    const reason = new Error('too late')
    const cold = cached(cache, 'cold', board.fn({ value: 1 }), { signal: AbortSignal.abort(reason) })
    const error = await t.throwsAsync(cold, { instanceOf: CallAbortedError })
    t.is(error?.cause, reason)
    const computing = cached(cache, 'busy', board.fn({ value: 2, gate: 0 }))
    await board.computations(1)
    await t.throwsAsync(within(cached(cache, 'busy', board.fn({ value: 2 }), { signal: AbortSignal.abort() }), 5000, 'an aborted call'), { instanceOf: CallAbortedError })
    board.open(0)
    t.is(await computing, 2)
    t.is(board.computed, 1)
    t.is((await cache.stats()).computes, 1)
  }),
)

test('bad call options are refused with a TypeError that names the option', async (t) => {
  const cache = await createCache({ name: 'abort-options', threads: 1 })
  try {
    const call = (options: unknown) => cached(cache, 'k', mustNotRun, options as never)
    await t.throwsAsync(call({ signal: {} }), { instanceOf: TypeError, message: /options\.signal must be an AbortSignal/ })
    await t.throwsAsync(call({ signal: 'abort' }), { instanceOf: TypeError, message: /options\.signal/ })
    await t.throwsAsync(call({ timeout: -1 }), { instanceOf: TypeError, message: /options\.timeout .*at least 0; got -1/ })
    await t.throwsAsync(call({ timeout: '100' }), { instanceOf: TypeError, message: /options\.timeout/ })
    await t.throwsAsync(call({ timeout: Number.POSITIVE_INFINITY }), { instanceOf: TypeError, message: /options\.timeout/ })
    await t.throwsAsync(call({ status: 'outcome' }), { instanceOf: TypeError, message: /options\.status must be an object/ })
    await t.throwsAsync(call({ status: null }), { instanceOf: TypeError, message: /options\.status/ })
    await t.throwsAsync(call({ ttl: -5 }), { instanceOf: TypeError, message: /options\.ttl/ })
    await t.throwsAsync(call({ grace: Number.NaN }), { instanceOf: TypeError, message: /options\.grace/ })
    await t.throwsAsync(call(null), { instanceOf: TypeError, message: /options must be an object, got null/ })
    await t.throwsAsync(call(5), { instanceOf: TypeError, message: /options must be an object, got number/ })
    // none of it reached the cache
    t.like(await cache.stats(), { computes: 0, misses: 0 })
    t.is(await cached(cache, 'k', () => 'fine', { timeout: 0, status: {} }), 'fine')
  } finally {
    await cache.close()
  }
})
