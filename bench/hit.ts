// Scenario 1 and 2: a hit on a hot key, with near copies on (the default), from the main
// thread and from a worker thread that attach()es; beside lru-cache in the same thread:
// `get` (the in-process ceiling) and `await fetch()` (the async API a user would otherwise
// await; our aim is a hit at least as fast as it).
//
// Alone: `npm run build && node dist/bench/hit.js`

import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { LRUCache } from 'lru-cache'
import { attach, cached, createCache, type Cache, type CacheHandle } from 'coop-cache'
import {
  Rounds,
  breathe,
  latencies,
  latenciesSync,
  ns,
  rate,
  ratio,
  table,
  throughput,
  throughputSync,
  timerFloor,
  type RoundsData,
} from './lib/measure.js'
import { ask, isEntry, runAlone, serve, startWorker, trace, unwrap, type Options, type Section } from './lib/scenario.js'

const HOT = 64
const keys = Array.from({ length: HOT }, (_, i) => `hot:${i}`)
const valueOf = (i: number) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'] })

interface Figures {
  readonly get: RoundsData
  readonly fetch: RoundsData
  readonly coop: RoundsData
  /** anatomy: `await` of an already-resolved promise, the floor of any awaited call */
  readonly awaitResolved: RoundsData
  /** anatomy: Atomics.add of a BigInt on a shared BigInt64Array (each near hit counts one) */
  readonly atomicBigAdd: RoundsData
  /** anatomy: a replica of the near-hit path, with and without its shared counter */
  readonly replica: RoundsData
  readonly replicaUncounted: RoundsData
  readonly timerFloor: number
  /** of the coop calls measured, the share served from a near copy (stats().nearHits) */
  readonly nearShare: number
}

/** What this thread hits: coop-cache (holding the hot keys), and its own lru-cache. */
async function subjectsFor(cache: Cache) {
  const lru = new LRUCache<string, object>({ max: 1_000, fetchMethod: async (key) => valueOf(Number(key.slice(4))) })
  for (let i = 0; i < HOT; i++) await lru.fetch(keys[i] as string)
  const compute = async () => {
    throw new Error('a hot key was computed during the hit benchmark')
  }
  const shared = new BigInt64Array(new SharedArrayBuffer(64))
  const resolved = valueOf(0)
  // A replica of a near hit's steps (src/caller.ts Client.get, src/near.ts Near.get, as of
  // this writing): closed flag and epoch read from shared memory, an LRU look-up, the shared
  // near-hit counter bumped by BigInt(1), Promise.resolve. With and without the counter, to
  // see what the counter costs; it is a model, not the library.
  const ints = new Int32Array(new SharedArrayBuffer(64))
  const copies = new LRUCache<string, { value: object; size: number }>({ max: 1_000 })
  for (let i = 0; i < HOT; i++) copies.set(keys[i] as string, { value: valueOf(i), size: 40 })
  const replica = (key: string, count: boolean) => {
    if (Atomics.load(ints, 1) === 1) return Promise.reject(new Error('closed'))
    if (Atomics.load(ints, 0) !== 0) return Promise.reject(new Error('epoch'))
    const copy = copies.get(key)
    if (copy !== undefined && count) Atomics.add(shared, 2, BigInt(1))
    return Promise.resolve(copy?.value)
  }
  return {
    get: { sync: true, op: (i: number) => lru.get(keys[i & (HOT - 1)] as string) },
    fetch: { sync: false, op: (i: number) => lru.fetch(keys[i & (HOT - 1)] as string) },
    coop: { sync: false, op: (i: number) => cached(cache, keys[i & (HOT - 1)] as string, compute) },
    awaitResolved: { sync: false, op: (_: number) => Promise.resolve(resolved) },
    atomicBigAdd: { sync: true, op: (_: number) => Atomics.add(shared, 1, BigInt(1)) },
    replica: { sync: false, op: (i: number) => replica(keys[i & (HOT - 1)] as string, true) },
    replicaUncounted: { sync: false, op: (i: number) => replica(keys[i & (HOT - 1)] as string, false) },
  } as const
}
type Subjects = Awaited<ReturnType<typeof subjectsFor>>
type Name = keyof Subjects

/** Measures every subject in this thread; `cache` already holds the hot keys. */
async function measure(cache: Cache, rounds: number, quick: boolean): Promise<Figures> {
  const n = quick ? 30_000 : 200_000
  const subjects = await subjectsFor(cache)
  const names = Object.keys(subjects) as Name[]
  const results = Object.fromEntries(names.map((name) => [name, new Rounds()])) as Record<Name, Rounds>

  const once = async (name: Name, calls: number, into?: Rounds) => {
    trace(`hit: ${name}, ${calls} calls${into === undefined ? ' (warm-up)' : ''}`)
    const { sync, op } = subjects[name]
    const r = sync ? throughputSync(calls, op) : await throughput(calls, op)
    const l = sync ? latenciesSync(calls, op) : await latencies(calls, op)
    into?.addRate(r)
    into?.addLatencies(l)
  }
  // Warm up: the JIT, and this thread's near copies (the first hit per key crosses threads).
  for (const name of names) await once(name, Math.min(n, 20_000))

  const before = await cache.stats()
  for (let round = 0; round < rounds; round++) {
    // Rotate the order, so no subject always runs first (or right after a GC).
    for (let j = 0; j < names.length; j++) {
      const name = names[(round + j) % names.length] as Name
      await breathe()
      await once(name, n, results[name])
    }
  }
  const after = await cache.stats()
  const coopCalls = rounds * n * 2
  return {
    get: results.get.toJSON(),
    fetch: results.fetch.toJSON(),
    coop: results.coop.toJSON(),
    awaitResolved: results.awaitResolved.toJSON(),
    atomicBigAdd: results.atomicBigAdd.toJSON(),
    replica: results.replica.toJSON(),
    replicaUncounted: results.replicaUncounted.toJSON(),
    timerFloor: timerFloor(),
    nearShare: (after.nearHits - before.nearHits) / coopCalls,
  }
}

/** One thread's part of a side-by-side run: wait for the gate, then hit `calls` times. */
async function sideBySide(subjects: Subjects, name: 'coop' | 'fetch', calls: number, gate: Int32Array | undefined): Promise<number> {
  if (gate !== undefined) Atomics.wait(gate, 0, 0)
  return throughput(calls, subjects[name].op)
}

async function fill(cache: Cache): Promise<void> {
  for (let i = 0; i < HOT; i++) await cached(cache, keys[i] as string, async () => valueOf(i))
}

export async function hit(options: Options): Promise<Section> {
  const cache = await createCache({ name: 'bench-hit' })
  try {
    await fill(cache)
    const main = await measure(cache, options.rounds, options.quick)
    const worker = await startWorker(import.meta.url, 'hit-worker')
    let inWorker: Figures
    const together = { coop: new Rounds(), fetch: new Rounds() }
    try {
      inWorker = unwrap(await ask<Figures>(worker, { kind: 'measure', handle: cache.handle, rounds: options.rounds, quick: options.quick }))
      // Both threads hit at once (each its own lru-cache; one coop-cache): per-thread rates.
      const subjects = await subjectsFor(cache)
      const calls = options.quick ? 100_000 : 1_000_000
      for (const name of ['coop', 'fetch'] as const) await sideBySide(subjects, name, calls / 10, undefined)
      for (let round = 0; round < options.rounds; round++) {
        for (const name of round % 2 === 0 ? (['coop', 'fetch'] as const) : (['fetch', 'coop'] as const)) {
          await breathe()
          const gate = new Int32Array(new SharedArrayBuffer(4))
          const theirs = ask<number | { error: string }>(worker, { kind: 'side', name, calls, gate: gate.buffer })
          await new Promise((resolve) => setTimeout(resolve, 20)) // the worker is at the gate
          Atomics.store(gate, 0, 1)
          Atomics.notify(gate, 0)
          trace(`hit: both threads at once, ${name}, round ${round}`)
          const mine = await sideBySide(subjects, name, calls, undefined)
          together[name].addRate(mine)
          together[name].addRate(unwrap(await theirs))
        }
      }
    } finally {
      await worker.terminate()
    }
    return report(main, inWorker, together.coop.toJSON(), together.fetch.toJSON(), options)
  } finally {
    await cache.close()
  }
}

function report(main: Figures, worker: Figures, coopTogether: RoundsData, fetchTogether: RoundsData, options: Options): Section {
  const rows = (f: Figures) => [
    ['lru-cache `get` (sync, the ceiling)', rate(f.get.rate), ns(f.get.p50), ns(f.get.p99), `${f.get.spread.toFixed(0)}%`],
    ['lru-cache `await fetch()` hit', rate(f.fetch.rate), ns(f.fetch.p50), ns(f.fetch.p99), `${f.fetch.spread.toFixed(0)}%`],
    ['coop-cache `await cached()` hit (near copy)', rate(f.coop.rate), ns(f.coop.p50), ns(f.coop.p99), `${f.coop.spread.toFixed(0)}%`],
    ['anatomy: `await Promise.resolve(v)`', rate(f.awaitResolved.rate), ns(f.awaitResolved.p50), ns(f.awaitResolved.p99), `${f.awaitResolved.spread.toFixed(0)}%`],
    ['anatomy: `Atomics.add(sharedBigInt64Array, i, BigInt(1))`', rate(f.atomicBigAdd.rate), ns(f.atomicBigAdd.p50), ns(f.atomicBigAdd.p99), `${f.atomicBigAdd.spread.toFixed(0)}%`],
    ['anatomy: replica of the near-hit steps, awaited', rate(f.replica.rate), ns(f.replica.p50), ns(f.replica.p99), `${f.replica.spread.toFixed(0)}%`],
    ['anatomy: the same replica without the shared counter', rate(f.replicaUncounted.rate), ns(f.replicaUncounted.p50), ns(f.replicaUncounted.p99), `${f.replicaUncounted.spread.toFixed(0)}%`],
  ]
  const head = ['subject', 'throughput (one at a time)', 'p50', 'p99', 'spread of rounds']
  const ratios = (f: Figures) => ({
    vsFetch: f.coop.rate / f.fetch.rate,
    vsGet: f.coop.rate / f.get.rate,
    p50vsFetch: f.coop.p50 / f.fetch.p50,
  })
  const m = ratios(main)
  const w = ratios(worker)
  const markdown = [
    `${HOT} hot keys, values \`{ id, name, tags: ['a','b'] }\`, keys strings. ${(options.quick ? 30_000 : 200_000).toLocaleString('en-US')} calls per measurement, ${options.rounds} rounds, subjects interleaved; each figure is the median over rounds. Throughput is measured without timers in the loop; latency times every call with \`process.hrtime.bigint()\`, whose own cost (the timer floor, ${ns(main.timerFloor)} here) is inside every latency figure.`,
    '',
    '### 1. From the main thread',
    '',
    table(head, rows(main)),
    '',
    `coop-cache hit throughput / lru-cache \`await fetch()\`: **${ratio(m.vsFetch)}** (aim: ≥ 1.00x); / lru-cache \`get\`: ${ratio(m.vsGet)}. Latency p50 coop / fetch: ${ratio(m.p50vsFetch)}. Share of the measured coop calls served from a near copy: ${(main.nearShare * 100).toFixed(1)}%.`,
    '',
    '### 2. From a worker thread that `attach`es',
    '',
    table(head, rows(worker)),
    '',
    `coop-cache hit throughput / lru-cache \`await fetch()\`: **${ratio(w.vsFetch)}** (aim: ≥ 1.00x); / lru-cache \`get\`: ${ratio(w.vsGet)}. Latency p50 coop / fetch: ${ratio(w.p50vsFetch)}. Share served from a near copy: ${(worker.nearShare * 100).toFixed(1)}%.`,
    '',
    '### Both threads hitting at once',
    '',
    `The main thread and the worker each run ${options.quick ? '100,000' : '1,000,000'} hits at the same moment (released by a shared gate), on the one coop-cache, or each on its own lru-cache; median over ${options.rounds} rounds of both threads' rates.`,
    '',
    table(
      ['subject', 'per-thread throughput, both at once', 'alone (main thread, above)', 'at once / alone'],
      [
        ['lru-cache `await fetch()` hit', rate(fetchTogether.rate), rate(main.fetch.rate), ratio(fetchTogether.rate / main.fetch.rate)],
        ['coop-cache `await cached()` hit (near copy)', rate(coopTogether.rate), rate(main.coop.rate), ratio(coopTogether.rate / main.coop.rate)],
      ],
    ),
    '',
    `coop-cache / lru-cache \`await fetch()\`, both threads at once: **${ratio(coopTogether.rate / fetchTogether.rate)}**.`,
  ].join('\n')
  return {
    title: '1–2. Hit on a hot key (near copies on)',
    markdown,
    figures: {
      mainCoopRate: main.coop.rate,
      mainFetchRate: main.fetch.rate,
      mainGetRate: main.get.rate,
      mainCoopP50: main.coop.p50,
      mainCoopP99: main.coop.p99,
      mainFetchP50: main.fetch.p50,
      mainRatioVsFetch: m.vsFetch,
      mainAwaitRate: main.awaitResolved.rate,
      mainAtomicRate: main.atomicBigAdd.rate,
      mainReplicaRate: main.replica.rate,
      mainReplicaUncountedRate: main.replicaUncounted.rate,
      togetherCoopVsAlone: coopTogether.rate / main.coop.rate,
      togetherFetchVsAlone: fetchTogether.rate / main.fetch.rate,
      mainNearShare: main.nearShare,
      workerCoopRate: worker.coop.rate,
      workerFetchRate: worker.fetch.rate,
      workerRatioVsFetch: w.vsFetch,
      workerNearShare: worker.nearShare,
      timerFloor: main.timerFloor,
      togetherCoopRate: coopTogether.rate,
      togetherFetchRate: fetchTogether.rate,
      togetherRatio: coopTogether.rate / fetchTogether.rate,
    },
  }
}

type Request =
  | { readonly kind: 'measure'; readonly handle: CacheHandle; readonly rounds: number; readonly quick: boolean }
  | { readonly kind: 'side'; readonly name: 'coop' | 'fetch'; readonly calls: number; readonly gate: SharedArrayBuffer }

if (!isMainThread && (workerData as { role?: string } | null)?.role === 'hit-worker' && parentPort !== null) {
  let mine: { cache: Cache; subjects: Subjects } | undefined
  serve(parentPort, async (request: Request) => {
    if (request.kind === 'measure') {
      const cache = attach(request.handle)
      mine = { cache, subjects: await subjectsFor(cache) }
      return measure(cache, request.rounds, request.quick)
    }
    if (mine === undefined) throw new Error('side-by-side run before the measurement')
    return sideBySide(mine.subjects, request.name, request.calls, new Int32Array(request.gate))
  })
}

if (isEntry(import.meta.url)) await runAlone(hit)
