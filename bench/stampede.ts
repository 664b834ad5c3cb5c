// Scenario 4: a cold-key stampede. T threads (the main thread and T-1 workers) each start N
// callers at the same instant on K cold keys (caller j asks for key j mod K); every `fn`
// takes COMPUTE_MS and counts itself with Atomics.add in a SharedArrayBuffer. coop-cache's
// promise is exactly K computations in all; beside it, one lru-cache per thread with a
// counting fetchMethod, which dedups within its thread only (K × T computations).
//
// The threads are released together by a shared gate: each worker prepares its callers,
// says so, and blocks on Atomics.wait until the main thread opens the gate.
//
// Alone: `npm run build && node dist/bench/stampede.js`

import { isMainThread, parentPort, workerData, type Worker } from 'node:worker_threads'
import { setTimeout as sleep } from 'node:timers/promises'
import { LRUCache } from 'lru-cache'
import { attach, cached, createCache, type Cache, type CacheHandle } from 'coop-cache'
import { median, table } from './lib/measure.js'
import { isEntry, nextMessage, runAlone, startWorker, trace, type Options, type Section } from './lib/scenario.js'

const COMPUTE_MS = 20
const COOP = 0
const LRU = 1

type Subject = 'coop' | 'lru'

interface Round {
  readonly subject: Subject
  readonly handle?: CacheHandle
  /** Int32Array slots: [coop computations, lru computations] */
  readonly counter: SharedArrayBuffer
  /** Int32Array slot 0: 0 closed, 1 open */
  readonly gate: SharedArrayBuffer
  readonly callers: number
  readonly keys: number
}

interface Done {
  /** ms from the gate opening (as this thread saw it) to its last caller's answer */
  readonly ms: number
  /** answers that were not the value of the key asked */
  readonly wrong: number
  readonly errors: string[]
}

/** Builds this thread's callers for a round; `start()` fires them all and waits for all. */
function callers(round: Round, cache: Cache | undefined): () => Promise<Done> {
  const counter = new Int32Array(round.counter)
  const keyOf = (j: number) => `cold:${j % round.keys}`
  let ask: (key: string) => Promise<unknown>
  if (round.subject === 'coop') {
    const c = cache as Cache
    ask = (key) =>
      cached(c, key, async () => {
        Atomics.add(counter, COOP, 1)
        await sleep(COMPUTE_MS)
        return { key }
      })
  } else {
    const lru = new LRUCache<string, { key: string }>({
      max: 10_000,
      fetchMethod: async (key) => {
        Atomics.add(counter, LRU, 1)
        await sleep(COMPUTE_MS)
        return { key }
      },
    })
    ask = (key) => lru.fetch(key)
  }
  return async () => {
    const start = performance.now()
    let wrong = 0
    const errors: string[] = []
    await Promise.all(
      Array.from({ length: round.callers }, (_, j) =>
        ask(keyOf(j)).then(
          (value) => {
            if ((value as { key?: string } | undefined)?.key !== keyOf(j)) wrong++
          },
          (error: unknown) => {
            if (errors.length < 5) errors.push(String(error))
          },
        ),
      ),
    )
    return { ms: performance.now() - start, wrong, errors }
  }
}

interface Result {
  readonly computations: number
  readonly wallMs: number
  readonly wrong: number
  readonly errors: string[]
  readonly stats?: { computes: number; coalesced: number; misses: number; hits: number; stored: number; failures: number }
}

export async function stampede(options: Options): Promise<Section> {
  const threads = 4
  const callersPerThread = options.quick ? 200 : 1_000
  const keys = 50
  const workers = await Promise.all(Array.from({ length: threads - 1 }, () => startWorker(import.meta.url, 'stampede-worker')))
  try {
    const results: Record<Subject, Result[]> = { coop: [], lru: [] }
    // A round is cheap, and each is one more chance to see a wrong count: twice the rounds.
    for (let r = 0; r < options.rounds * 2; r++) {
      for (const subject of r % 2 === 0 ? (['coop', 'lru'] as const) : (['lru', 'coop'] as const)) {
        results[subject].push(await round(subject, workers, { callers: callersPerThread, keys }))
      }
    }
    return report(results, { threads, callersPerThread, keys }, options)
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()))
  }
}

/** One stampede: every thread's callers released together; counts and wall time. */
async function round(subject: Subject, workers: Worker[], sizes: { callers: number; keys: number }): Promise<Result> {
  trace(`stampede: ${subject}`)
  const cache = subject === 'coop' ? await createCache({ name: 'bench-stampede' }) : undefined
  try {
    const spec: Round = {
      subject,
      ...(cache !== undefined ? { handle: cache.handle } : {}),
      counter: new SharedArrayBuffer(8),
      gate: new SharedArrayBuffer(4),
      ...sizes,
    }
    const set = workers.map((worker) => nextMessage<{ set: true }>(worker))
    for (const worker of workers) worker.postMessage(spec)
    await Promise.all(set)
    const finished = workers.map((worker) => nextMessage<Done>(worker))
    const mine = callers(spec, cache)
    const start = performance.now()
    const gate = new Int32Array(spec.gate)
    Atomics.store(gate, 0, 1)
    Atomics.notify(gate, 0)
    const dones = await Promise.all([mine(), ...finished])
    const wallMs = performance.now() - start
    const counter = new Int32Array(spec.counter)
    const stats = cache !== undefined ? await cache.stats() : undefined
    return {
      computations: Atomics.load(counter, subject === 'coop' ? COOP : LRU),
      wallMs,
      wrong: dones.reduce((sum, done) => sum + done.wrong, 0),
      errors: dones.flatMap((done) => done.errors),
      ...(stats !== undefined
        ? { stats: { computes: stats.computes, coalesced: stats.coalesced, misses: stats.misses, hits: stats.hits, stored: stats.stored, failures: stats.failures } }
        : {}),
    }
  } finally {
    await cache?.close()
  }
}

function report(results: Record<Subject, Result[]>, sizes: { threads: number; callersPerThread: number; keys: number }, options: Options): Section {
  const { threads, callersPerThread, keys } = sizes
  const calls = threads * callersPerThread
  const list = (values: number[]) => values.join(', ')
  const coop = results.coop
  const lru = results.lru
  const coopCounts = coop.map((r) => r.computations)
  const lruCounts = lru.map((r) => r.computations)
  const coopWall = median(coop.map((r) => r.wallMs))
  const lruWall = median(lru.map((r) => r.wallMs))
  const stat = (field: 'computes' | 'coalesced' | 'misses' | 'hits' | 'stored' | 'failures') => median(coop.map((r) => r.stats?.[field] ?? Number.NaN))
  const wrong = [...coop, ...lru].reduce((sum, r) => sum + r.wrong, 0)
  const errors = [...coop, ...lru].flatMap((r) => r.errors)
  const exact = coopCounts.every((n) => n === keys)
  const markdown = [
    `${threads} threads (main + ${threads - 1} workers) × ${callersPerThread.toLocaleString('en-US')} callers = ${calls.toLocaleString('en-US')} calls on K = ${keys} cold keys, released together by a shared gate; each \`fn\` counts itself with \`Atomics.add\` and takes ${COMPUTE_MS} ms. A fresh cache each round (default options: \`threads\` = available cores); ${options.rounds * 2} rounds of each subject, alternating.`,
    '',
    table(
      ['subject', 'computations, median', 'computations, every round', 'goal', 'wall time, median'],
      [
        ['coop-cache `cached()`', String(median(coopCounts)), list(coopCounts), `${keys} (K)`, `${coopWall.toFixed(1)} ms`],
        ['lru-cache `fetch()`, one cache per thread', String(median(lruCounts)), list(lruCounts), `(it dedups per thread: K × T = ${keys * threads})`, `${lruWall.toFixed(1)} ms`],
      ],
    ),
    '',
    `coop-cache ${exact ? `computed **exactly K = ${keys}** in every round` : `**did not compute exactly K = ${keys} in every round** (${list(coopCounts)})`}. Its counters, median over rounds: computes ${stat('computes')}, misses ${stat('misses')}, coalesced ${stat('coalesced')}, hits ${stat('hits')}, stored ${stat('stored')}, failures ${stat('failures')}. Wall time coop / lru: ${(coopWall / lruWall).toFixed(2)}x (the floor is one \`fn\`, ${COMPUTE_MS} ms).`,
    '',
    `Answers that were not the asked key's value: ${wrong}; errors: ${errors.length === 0 ? 'none' : errors.slice(0, 3).join('; ')}.`,
  ].join('\n')
  return {
    title: '4. Cold-key stampede',
    markdown,
    figures: {
      coopComputations: median(coopCounts),
      coopExact: exact ? 1 : 0,
      lruComputations: median(lruCounts),
      coopWallMs: coopWall,
      lruWallMs: lruWall,
      keys,
      threads,
      callersPerThread,
      computeMs: COMPUTE_MS,
      wrong,
      errors: errors.length,
    },
  }
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === 'stampede-worker' && parentPort !== null) {
  const port = parentPort
  port.on('message', async (spec: Round) => {
    const cache = spec.handle !== undefined ? attach(spec.handle) : undefined
    const start = callers(spec, cache)
    port.postMessage({ set: true })
    Atomics.wait(new Int32Array(spec.gate), 0, 0)
    const done = await start()
    await cache?.close()
    port.postMessage(done)
  })
  port.postMessage({ ready: true })
}

if (isEntry(import.meta.url)) await runAlone(stampede)
