// invalidate(cache, key) in one process: the key's value is gone from every thread (near copies
// included), no other key loses its value, and a computation of the key under way is fenced: its
// fn's signal aborts, its value reaches nobody, and its waiters are served by a new computation.
// Values say which computation made them (spec.seq: `${value}~${n}`, n counting the board's
// computations in the order they began), so a value from before an invalidation shows.
import test from 'ava'
import fc from 'fast-check'
import { CacheClosedError, cached, createCache, invalidate, type Key } from 'coop-cache'
import { outcome, until, type FnSpec, type Outcome } from './helpers/board.js'
import type { CallerThread } from './helpers/callers.js'
import { withCache, type Scene } from './helpers/scene.js'

/** One call for `key` in thread `thread` (0 the main thread, i the worker i - 1). */
function callIn(thread: number, scene: Scene, key: Key, spec: FnSpec, count = 1): Promise<Outcome[]> {
  if (thread === 0) return Promise.all(Array.from({ length: count }, () => outcome(cached(scene.cache, key, scene.board.fn(spec)))))
  return (scene.workers[thread - 1] as CallerThread).cached(key, spec, count).done
}

/** What every thread (main first) gets for `key`, one thread after another. */
async function inEveryThread(scene: Scene, key: Key, spec: FnSpec): Promise<unknown[]> {
  const values: unknown[] = []
  for (let thread = 0; thread <= scene.workers.length; thread++) {
    for (const o of await callIn(thread, scene, key, spec)) values.push(o.ok ? o.value : `${o.name}: ${o.message}`)
  }
  return values
}

test('invalidate drops the key in every thread: no thread is served its old value or near copy afterwards', (t) =>
  withCache({ name: 'invalidate-threads', threads: 2 }, 2, async (scene) => {
    const { cache, board, workers } = scene
    const key = ['page', 1]
    // every thread asks three times: a thread keeps a near copy of a value it was sent (the
    // computer's own thread, of its second call's), so each thread's third call is a near hit
    for (let round = 0; round < 3; round++) t.deepEqual(await inEveryThread(scene, key, { value: 'page', seq: true }), ['page~1', 'page~1', 'page~1'])
    await Promise.all(workers.map((w) => w.stats()))
    await until(cache, (stats) => stats.nearHits >= 5)
    await invalidate(cache, key)
    t.deepEqual(await inEveryThread(scene, key, { value: 'new', seq: true }), ['new~2', 'new~2', 'new~2'])
    // from a worker thread too, and again once near copies of the new value are everywhere
    t.deepEqual(await inEveryThread(scene, key, { value: 'new', seq: true }), ['new~2', 'new~2', 'new~2'])
    t.deepEqual(await workers[1]!.invalidate(key), { ok: true, value: undefined })
    t.deepEqual(await inEveryThread(scene, key, { value: 'newer', seq: true }), ['newer~3', 'newer~3', 'newer~3'])
    t.is(board.computed, 3)
  }),
)

test('invalidate leaves every other key its value: nothing else is computed again', (t) =>
  withCache({ name: 'invalidate-others', threads: 2 }, 2, async (scene) => {
    const { cache, board } = scene
    // keys near the invalidated one: the same word in another type, inside an array, a longer array
    const keys: Key[] = ['b', ['b'], 'a', 'c', ['b', 1], { b: 1 }, 'bb']
    for (const key of keys) t.deepEqual(new Set(await inEveryThread(scene, key, { value: JSON.stringify(key), seq: true })).size, 1)
    const before = await Promise.all(keys.map(async (key) => (await inEveryThread(scene, key, { value: 'recomputed', seq: true }))[0]))
    t.is(board.computed, keys.length)
    t.is((await cache.stats()).entries, keys.length)
    await invalidate(cache, 'b')
    // the owners hold every other entry still (every thread also has near copies of them)
    t.is((await cache.stats()).entries, keys.length - 1)
    for (const [i, key] of keys.entries()) {
      const values = await inEveryThread(scene, key, { value: 'recomputed', seq: true })
      if (key === 'b') t.deepEqual(values, Array(3).fill(`recomputed~${keys.length + 1}`), 'the invalidated key')
      else t.deepEqual(values, Array(3).fill(before[i]), `key ${JSON.stringify(key)}`)
    }
    t.is(board.computed, keys.length + 1)
  }),
)

test('each invalidation followed by a stampede from every thread costs exactly one computation', (t) =>
  withCache({ name: 'invalidate-once', threads: 2 }, 2, async (scene) => {
    const { cache, board, workers } = scene
    const key = { report: 'daily' }
    for (let round = 1; round <= 4; round++) {
      const spec = { value: `r${round}`, seq: true, delay: 5 }
      const outcomes = (await Promise.all([0, 1, 2].map((thread) => callIn(thread, scene, key, spec, 10)))).flat()
      t.deepEqual(new Set(outcomes.map((o) => (o.ok ? o.value : o.message))), new Set([`r${round}~${round}`]), `round ${round}`)
      t.is(board.computed, round)
      // invalidations from each thread in turn
      if (round % 3 === 0) await invalidate(cache, key)
      else t.deepEqual(await workers[(round % 3) - 1]!.invalidate(key), { ok: true, value: undefined })
    }
  }),
)

test('a computation under way when its key is invalidated is fenced: its signal aborts and every waiter gets a new computation', (t) =>
  withCache({ name: 'invalidate-fenced', threads: 2 }, 2, async (scene) => {
    const { cache, board, workers } = scene
    const key = ['slow', 'page']
    // the first computation, in worker 1, is held at gate 0; waiters pile up in every thread
    const spec = { value: 'slow', seq: true, gate: 0 }
    const computer = workers[0]!.cached(key, spec, 5)
    await computer.issued
    await board.computations(1)
    const waiters = workers[1]!.cached(key, spec, 5)
    const local = callIn(0, scene, key, spec, 5)
    await waiters.issued
    // both other threads' requests have reached the owner and wait for the computation
    await until(cache, (stats) => stats.coalesced >= 2)
    await invalidate(cache, key)
    // the fenced computation is told while it still runs; a new one starts (held at the gate too)
    await board.abortions(1)
    await board.computations(2)
    board.open(0)
    const outcomes = [...(await computer.done), ...(await waiters.done), ...(await local)]
    t.is(outcomes.length, 15)
    t.deepEqual(new Set(outcomes.map((o) => (o.ok ? o.value : o.message))), new Set(['slow~2']))
    // the fenced value was not stored either: the new one was
    t.deepEqual(await inEveryThread(scene, key, { value: 'later', seq: true }), ['slow~2', 'slow~2', 'slow~2'])
    t.is(board.computed, 2)
    t.is(board.aborted, 1)
  }),
)

test('invalidate refuses a bad key, a prefix on a non-array key and options that are not an object, naming the argument', (t) =>
  withCache({ name: 'invalidate-misuse', threads: 1 }, 1, async ({ cache, board, workers: [worker] }) => {
    t.is(await cached(cache, 'kept', board.fn({ value: 'kept' })), 'kept')
    await t.throwsAsync(invalidate(cache, (() => 1) as unknown as Key), { instanceOf: TypeError, message: /^key is a function/ })
    await t.throwsAsync(invalidate(cache, ['user', Symbol('id')] as unknown as Key), { instanceOf: TypeError, message: /^key\[1\] is a symbol/ })
    await t.throwsAsync(invalidate(cache, undefined as unknown as Key), { instanceOf: TypeError, message: /^key is undefined/ })
    await t.throwsAsync(invalidate(cache, 'user', { prefix: true }), {
      instanceOf: TypeError,
      message: 'invalidate(cache, key, options): with { prefix: true }, key must be a non-empty array (the start of the keys to drop), got "user"; to drop every key, reset the cache',
    })
    await t.throwsAsync(invalidate(cache, { user: 1 }, { prefix: true }), { instanceOf: TypeError, message: /with \{ prefix: true \}, key must be a non-empty array/ })
    for (const options of [5, 'prefix', null, true]) {
      await t.throwsAsync(invalidate(cache, ['user'], options as unknown as { prefix: boolean }), {
        instanceOf: TypeError,
        message: 'invalidate(cache, key, options): options must be an object such as { prefix: true }',
      })
    }
    await t.throwsAsync(invalidate(cache, ['user'], { prefix: 'yes' as unknown as boolean }), {
      instanceOf: TypeError,
      message: 'invalidate(cache, key, options): options.prefix must be a boolean, got string',
    })
    await t.throwsAsync(invalidate({} as Parameters<typeof invalidate>[0], 'k'), { instanceOf: TypeError, message: /^invalidate\(cache, key, options\): cache must be a cache/ })
    // from a worker thread, the same error
    const fromWorker = await worker!.invalidate('user', true)
    t.like(fromWorker, { ok: false, name: 'TypeError' })
    t.regex((fromWorker as { message: string }).message, /with \{ prefix: true \}, key must be a non-empty array/)
    // none of it dropped anything
    t.is(await cached(cache, 'kept', board.fn({ value: 'again' })), 'kept')
    t.is(board.computed, 1)
  }),
)

test('invalidate after close rejects with CacheClosedError', async (t) => {
  const cache = await createCache({ name: 'invalidate-closed', threads: 1 })
  await cache.close()
  await t.throwsAsync(invalidate(cache, 'k'), { instanceOf: CacheClosedError, code: 'ERR_COOP_CACHE_CLOSED' })
  await t.throwsAsync(invalidate(cache, ['k'], { prefix: true }), { instanceOf: CacheClosedError })
})

// Random interleavings of cached() (fast or slow computations) and invalidate() from the main
// thread and two workers, on three keys. After each run:
//   fresh          no call gets a value whose computation began before an invalidation of its key
//                  that had resolved when the call was made (or, for the main thread's calls,
//                  when the call settled: the fenced value is handed to nobody)
//   once per epoch each key has at most one computation more than it had invalidations
//   fenced         every computation whose value reached nobody saw its signal abort
//   nobody hangs   every call and invalidation settles
type Step =
  | { readonly op: 'get'; readonly thread: number; readonly key: number; readonly delay: number; readonly wait: number }
  | { readonly op: 'invalidate'; readonly thread: number; readonly key: number; readonly wait: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('get' as const), thread: fc.nat(2), key: fc.nat(2), delay: fc.nat(12), wait: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('invalidate' as const), thread: fc.nat(2), key: fc.nat(2), wait: fc.nat(3) }) },
)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Made {
  readonly key: number
  readonly thread: number
  /** the board's count when the latest invalidation of the key that had resolved when the call was made began */
  readonly madeAfter: number
  /** for a main-thread call, the same when the call settled */
  settledAfter: number
  readonly result: Promise<Outcome>
}

test('random interleavings of calls and invalidations from three threads never serve a value from before a resolved invalidation', (t) =>
  withCache({ name: 'invalidate-interleavings', threads: 2 }, 2, async (scene) => {
    const { cache, board, workers } = scene
    let run = 0
    let fenced = 0
    const details = await fc.check(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 30 }), async (steps) => {
        run++
        const computedBefore = board.computed
        const abortedBefore = board.aborted
        const nameOf = (key: number) => `r${run}-k${key}`
        /** per key: the board's count when the latest resolved invalidation of it began */
        const fencedAt = new Map<number, number>()
        const invalidations = new Map<number, number>()
        const called = new Set<number>()
        const pending: Promise<void>[] = []
        const calls: Made[] = []
        for (const s of steps) {
          await sleep(s.wait)
          const key = nameOf(s.key)
          if (s.op === 'invalidate') {
            invalidations.set(s.key, (invalidations.get(s.key) ?? 0) + 1)
            const began = board.computed
            const done = s.thread === 0 ? outcome(invalidate(cache, key)) : workers[s.thread - 1]!.invalidate(key)
            pending.push(
              done.then((o) => {
                if (!o.ok) throw new Error(`invalidate(${key}) failed: ${o.name}: ${o.message}`)
                fencedAt.set(s.key, Math.max(fencedAt.get(s.key) ?? 0, began))
              }),
            )
            continue
          }
          called.add(s.key)
          const spec = { value: key, seq: true, delay: s.delay }
          const madeAfter = fencedAt.get(s.key) ?? 0
          if (s.thread === 0) {
            const call: Made = {
              key: s.key,
              thread: 0,
              madeAfter,
              settledAfter: madeAfter,
              result: outcome(cached(cache, key, board.fn(spec))).then((o) => {
                call.settledAfter = fencedAt.get(s.key) ?? 0
                return o
              }),
            }
            calls.push(call)
          } else {
            calls.push({ key: s.key, thread: s.thread, madeAfter, settledAfter: madeAfter, result: callIn(s.thread, scene, key, spec).then((o) => o[0] as Outcome) })
          }
        }
        let timer: NodeJS.Timeout | undefined
        const bound = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('a call or an invalidation did not settle within 10 s')), 10_000)
        })
        try {
          await Promise.race([Promise.all(pending), bound])
          const outcomes = await Promise.race([Promise.all(calls.map((c) => c.result)), bound])
          const delivered = new Map<number, Set<number>>()
          outcomes.forEach((o, i) => {
            const call = calls[i] as Made
            if (!o.ok) throw new Error(`unexpected error: ${o.name}: ${o.message}`)
            const [name, n] = String(o.value).split('~') as [string, string]
            const seq = Number(n)
            if (name !== nameOf(call.key)) throw new Error(`a call for ${nameOf(call.key)} got ${String(o.value)}`)
            if (seq <= call.madeAfter) throw new Error(`${String(o.value)} (thread ${call.thread}) was computed before an invalidation that had resolved before the call (at computation ${call.madeAfter})`)
            if (seq <= call.settledAfter) throw new Error(`${String(o.value)} (main thread) was handed out after an invalidation that began at computation ${call.settledAfter} had resolved`)
            delivered.set(call.key, (delivered.get(call.key) ?? new Set()).add(seq))
          })
          let allowed = 0
          for (const key of called) {
            const seqs = delivered.get(key)?.size ?? 0
            const most = 1 + (invalidations.get(key) ?? 0)
            if (seqs > most) throw new Error(`${nameOf(key)}: ${seqs} computations delivered, with only ${most - 1} invalidations`)
            allowed += most
          }
          const computed = board.computed - computedBefore
          if (computed > allowed) throw new Error(`${computed} computations ran, more than ${allowed}: one per key and one per invalidation`)
          // each computation that reached nobody was fenced, and its signal aborted (maybe a moment after its waiters were served)
          const reachedNobody = computed - [...delivered.values()].reduce((sum, seqs) => sum + seqs.size, 0)
          await Promise.race([board.abortions(abortedBefore + reachedNobody), bound])
          fenced += reachedNobody
          if (board.aborted - abortedBefore !== reachedNobody) throw new Error(`${board.aborted - abortedBefore} computations saw their signal abort, but ${reachedNobody} reached nobody`)
        } finally {
          clearTimeout(timer)
        }
      }),
      { numRuns: 100, endOnFailure: true },
    )
    t.log(`${run} runs; ${fenced} computations were fenced`)
    if (details.failed) t.fail(`${String(details.errorInstance)}\nafter ${details.numRuns} runs, with ${fc.stringify(details.counterexample)}`)
    else t.pass()
  }),
)
