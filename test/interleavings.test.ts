import test from 'ava'
import fc from 'fast-check'
import { createCache, cached, reset } from 'coop-cache'
import { Board, outcome, type Outcome } from './helpers/board.js'
import { callerThreads } from './helpers/callers.js'

// Random interleavings of cached() (succeeding or throwing, fast or slow) and reset() from the
// main thread and two workers, against one cache. After each run:
//   compute once   all callers that got a value for a key in one version got the same
//                  computation's value (values name their computation: key@version#thread.n)
//   fresh          no call got a value of a version older than the last reset that had
//                  resolved before the call was made
//   nobody hangs   every call settled (within the run's time bound)
//   clear errors   the only error a call gets is the one its computation threw

type Step =
  | { readonly op: 'get'; readonly thread: number; readonly key: number; readonly throws: boolean; readonly delay: number; readonly wait: number }
  | { readonly op: 'reset'; readonly thread: number; readonly wait: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('get' as const), thread: fc.nat(2), key: fc.nat(3), throws: fc.nat(9).map((n) => n < 2), delay: fc.nat(8), wait: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reset' as const), thread: fc.nat(2), wait: fc.nat(3) }) },
)

test('random interleavings of calls, resets and failures from three threads keep every guarantee', async (t) => {
  const cache = await createCache({ name: 'interleavings', threads: 2, version: 0 })
  const board = new Board()
  const workers = await callerThreads(cache, board, 2)
  let run = 0
  let version = 0
  try {
    const details = await fc.check(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 30 }), async (steps) => {
        run++
        let resolvedVersion = version
        let resets: Promise<unknown> = Promise.resolve()
        const calls: { key: number; atLeast: number; result: Promise<Outcome> }[] = []
        for (const s of steps) {
          await new Promise((resolve) => setTimeout(resolve, s.wait))
          if (s.op === 'reset') {
            // resets follow one another so versions only grow; calls fly around them
            const next = ++version
            resets = resets.then(async () => {
              const done = s.thread === 0 ? await outcome(reset(cache, next)) : await workers[s.thread - 1]!.reset(next)
              if (!done.ok) throw new Error(`reset failed: ${done.message}`)
              resolvedVersion = Math.max(resolvedVersion, next)
            })
            continue
          }
          const key = `r${run}-k${s.key}`
          const spec = { value: key, withVersion: true, tag: true, delay: s.delay, ...(s.throws ? { throws: 'boom' } : {}) }
          const result = s.thread === 0 ? outcome(cached(cache, key, board.fn(spec))) : workers[s.thread - 1]!.cached(key, spec).done.then((o) => o[0] as Outcome)
          calls.push({ key: s.key, atLeast: resolvedVersion, result })
        }
        const bound = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('a call did not settle within 10 s')), 10_000).unref())
        await Promise.race([resets, bound])
        const outcomes = await Promise.race([Promise.all(calls.map((c) => c.result)), bound])
        const seen = new Map<string, string>()
        outcomes.forEach((o, i) => {
          if (!o.ok) {
            if (o.name !== 'RangeError' || o.message !== 'boom') throw new Error(`unexpected error: ${o.name}: ${o.message}`)
            return
          }
          const [head, tag] = String(o.value).split('#') as [string, string]
          const at = Number(head.split('@')[1])
          const call = calls[i]!
          if (at < call.atLeast) throw new Error(`stale value ${String(o.value)} for a call made after version ${call.atLeast}`)
          const first = seen.get(head)
          if (first !== undefined && first !== tag) throw new Error(`two computations delivered for ${head}: #${first} and #${tag}`)
          seen.set(head, tag)
        })
      }),
      { numRuns: 60, endOnFailure: true },
    )
    if (details.failed) t.fail(`${String(details.errorInstance)}\nafter ${details.numRuns} runs, with ${fc.stringify(details.counterexample)}`)
    else t.pass()
  } finally {
    await Promise.all(workers.map((w) => w.end()))
    await cache.close()
  }
})
