// Scenario 1 and 2: a hit on a hot key, with near copies on (the default), from the main
// thread and from a worker thread that attach()es; beside lru-cache in the same thread:
// `get` (the in-process ceiling) and `await fetch()` (the async API a user would otherwise
// await; our aim is a hit at least as fast as it).
//
// Beside them, the same near hit on a cache that has a bus: with a bus, every near hit checks
// in shared memory until when this process may serve (src/shared/memory/liveness.ts: an
// Atomics.load and a read of the monotonic clock, src/shared/clock.ts), which a cache without a
// bus skips. The bus here is a
// memoryBus() with this one cache on it, so that the check runs; a near hit in a real cluster
// makes the same check and nothing more (the bus is not on the near-hit path).
//
// And a near hit on a cache created with `ttl` (an hour: nothing expires during the run), where
// every near hit also compares the copy's expiry with the clock, beside lru-cache `await fetch()`
// on a cache with its own `ttl`: what a user of TTL would otherwise await.
//
// Alone: `npm run build && node dist/bench/hit.js`

import { readFileSync } from 'node:fs'
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { LRUCache } from 'lru-cache'
import { attach, cached, createCache, memoryBus, type Cache, type CacheHandle } from 'coop-cache'
import { monotonic } from '../src/shared/clock.js'
import {
  Rounds,
  between,
  latencies,
  latenciesSync,
  ns,
  rate,
  keep,
  ratio,
  table,
  throughput,
  throughputSync,
  timerFloor,
  type RoundsData,
} from './lib/measure.js'
import { TTL_AIM } from './lib/aims.js'
import { ask, isEntry, runAlone, serve, startWorker, trace, unwrap, type Options, type Section } from './lib/scenario.js'

const HOT = 64
const keys = Array.from({ length: HOT }, (_, i) => `hot:${i}`)
const valueOf = (i: number) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'] })
/** ms: the `ttl` of the TTL rows, long enough that nothing expires during the run */
const TTL = 3_600_000

interface Figures {
  readonly get: RoundsData
  readonly fetch: RoundsData
  readonly coop: RoundsData
  /** a near hit on a cache with a bus (one member on a memoryBus): the liveness check runs */
  readonly coopBus: RoundsData
  /** lru-cache `await fetch()` on a cache with its own `ttl` */
  readonly fetchTtl: RoundsData
  /** a near hit on a cache created with `ttl`: the copy's expiry is checked */
  readonly coopTtl: RoundsData
  /** anatomy: `await` of an already-resolved promise, the floor of any awaited call */
  readonly awaitResolved: RoundsData
  /** anatomy: monotonic() alone, the clock read of the liveness check */
  readonly clock: RoundsData
  /** anatomy: a replica of the near-hit path, without and with the liveness check */
  readonly replica: RoundsData
  readonly replicaLive: RoundsData
  readonly timerFloor: number
  /** of the coop calls measured, the share served from a near copy (stats().nearHits) */
  readonly nearShare: number
  /** the same for the cache with a bus */
  readonly busNearShare: number
  /** the same for the cache with a ttl */
  readonly ttlNearShare: number
}

/** The caches a thread hits: without a bus (the default), with one (one member on a memoryBus), and with a ttl. */
interface Caches {
  readonly plain: Cache
  readonly bus: Cache
  readonly ttl: Cache
}

/** What this thread hits: coop-cache (both caches holding the hot keys), and its own lru-cache. */
async function subjectsFor(caches: Caches) {
  const lru = new LRUCache<string, object>({ max: 1_000, fetchMethod: async (key) => valueOf(Number(key.slice(4))) })
  for (let i = 0; i < HOT; i++) await lru.fetch(keys[i] as string)
  const lruTtl = new LRUCache<string, object>({ max: 1_000, ttl: TTL, fetchMethod: async (key) => valueOf(Number(key.slice(4))) })
  for (let i = 0; i < HOT; i++) await lruTtl.fetch(keys[i] as string)
  const compute = async () => {
    throw new Error('a hot key was computed during the hit benchmark')
  }
  const resolved = valueOf(0)
  // A replica of a near hit's steps (src/caller/client.ts Client.get, src/caller/near.ts
  // Near.get, as of this writing): with a bus, the liveness check (liveness.ts: the serve-until
  // time read from shared memory and compared with monotonic()); an LRU look-up; the count of
  // changes read from shared memory and compared with the copy's (changes.ts: it stands for the
  // epoch, the closed flag and the key's fences while none of them moves); the hit counted in a
  // plain number of this thread's; the copy's already-resolved promise returned. Without and
  // with the check, to see what the check costs inside a hit; it is a model, not the library.
  const ints = new Int32Array(new SharedArrayBuffer(64))
  Atomics.store(ints, 2, (monotonic() + 3_600_000) | 0)
  const copies = new LRUCache<string, { promise: Promise<object>; size: number; checkedAt: number }>({ max: 1_000 })
  for (let i = 0; i < HOT; i++) copies.set(keys[i] as string, { promise: Promise.resolve(valueOf(i)), size: 40, checkedAt: 0 })
  let counted = 0
  const miss = Promise.resolve(undefined)
  const replica = (key: string, clustered: boolean) => {
    if (clustered && ((Atomics.load(ints, 2) - (monotonic() >>> 0)) | 0) <= 0) return miss
    const copy = copies.get(key)
    if (copy === undefined) return miss
    if (Atomics.load(ints, 0) !== copy.checkedAt) return Promise.reject(new Error('changed'))
    counted++
    return copy.promise
  }
  keep(() => counted)
  return {
    get: { sync: true, op: (i: number) => lru.get(keys[i & (HOT - 1)] as string) },
    fetch: { sync: false, op: (i: number) => lru.fetch(keys[i & (HOT - 1)] as string) },
    coop: { sync: false, op: (i: number) => cached(caches.plain, keys[i & (HOT - 1)] as string, compute) },
    coopBus: { sync: false, op: (i: number) => cached(caches.bus, keys[i & (HOT - 1)] as string, compute) },
    fetchTtl: { sync: false, op: (i: number) => lruTtl.fetch(keys[i & (HOT - 1)] as string) },
    coopTtl: { sync: false, op: (i: number) => cached(caches.ttl, keys[i & (HOT - 1)] as string, compute) },
    awaitResolved: { sync: false, op: (_: number) => Promise.resolve(resolved) },
    clock: { sync: true, op: (_: number) => monotonic() },
    replica: { sync: false, op: (i: number) => replica(keys[i & (HOT - 1)] as string, false) },
    replicaLive: { sync: false, op: (i: number) => replica(keys[i & (HOT - 1)] as string, true) },
  } as const
}
type Subjects = Awaited<ReturnType<typeof subjectsFor>>
type Name = keyof Subjects

/** Measures every subject in this thread; both caches already hold the hot keys. */
async function measure(caches: Caches, rounds: number, quick: boolean): Promise<Figures> {
  const n = quick ? 30_000 : 200_000
  const subjects = await subjectsFor(caches)
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

  const before = await caches.plain.stats()
  const busBefore = await caches.bus.stats()
  const ttlBefore = await caches.ttl.stats()
  for (let round = 0; round < rounds; round++) {
    // Rotate the order, so no subject always runs first (or right after a GC).
    for (let j = 0; j < names.length; j++) {
      const name = names[(round + j) % names.length] as Name
      await between()
      await once(name, n, results[name])
    }
  }
  const after = await caches.plain.stats()
  const busAfter = await caches.bus.stats()
  const ttlAfter = await caches.ttl.stats()
  const coopCalls = rounds * n * 2
  return {
    get: results.get.toJSON(),
    fetch: results.fetch.toJSON(),
    coop: results.coop.toJSON(),
    coopBus: results.coopBus.toJSON(),
    fetchTtl: results.fetchTtl.toJSON(),
    coopTtl: results.coopTtl.toJSON(),
    awaitResolved: results.awaitResolved.toJSON(),
    clock: results.clock.toJSON(),
    replica: results.replica.toJSON(),
    replicaLive: results.replicaLive.toJSON(),
    timerFloor: timerFloor(),
    nearShare: (after.nearHits - before.nearHits) / coopCalls,
    busNearShare: (busAfter.nearHits - busBefore.nearHits) / coopCalls,
    ttlNearShare: (ttlAfter.nearHits - ttlBefore.nearHits) / coopCalls,
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
  // One member on a bus of its own: it hears its own heartbeats, so it stays live and serves.
  const busCache = await createCache({ name: 'bench-hit-bus', bus: memoryBus() })
  const ttlCache = await createCache({ name: 'bench-hit-ttl', ttl: TTL })
  const caches: Caches = { plain: cache, bus: busCache, ttl: ttlCache }
  try {
    await fill(cache)
    await fill(busCache)
    await fill(ttlCache)
    const main = await measure(caches, options.rounds, options.quick)
    const worker = await startWorker(import.meta.url, 'hit-worker')
    let inWorker: Figures
    const together = { coop: new Rounds(), fetch: new Rounds() }
    try {
      inWorker = unwrap(await ask<Figures>(worker, { kind: 'measure', handle: cache.handle, busHandle: busCache.handle, ttlHandle: ttlCache.handle, rounds: options.rounds, quick: options.quick }))
      // Both threads hit at once (each its own lru-cache; one coop-cache): per-thread rates.
      const subjects = await subjectsFor(caches)
      const calls = options.quick ? 100_000 : 1_000_000
      for (const name of ['coop', 'fetch'] as const) await sideBySide(subjects, name, calls / 10, undefined)
      for (let round = 0; round < options.rounds; round++) {
        for (const name of round % 2 === 0 ? (['coop', 'fetch'] as const) : (['fetch', 'coop'] as const)) {
          await between()
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
    await busCache.close()
    await ttlCache.close()
  }
}

/** The kernel's clock source (what a clock read costs depends on it), where Linux says. */
function clockSource(): string {
  try {
    return readFileSync('/sys/devices/system/clocksource/clocksource0/current_clocksource', 'utf8').trim()
  } catch {
    return 'not known'
  }
}

function report(main: Figures, worker: Figures, coopTogether: RoundsData, fetchTogether: RoundsData, options: Options): Section {
  const line = (label: string, d: RoundsData) => [label, rate(d.rate), ns(d.p50), ns(d.p99), `${d.spread.toFixed(0)}%`]
  const rows = (f: Figures) => [
    line('lru-cache `get` (sync, the ceiling)', f.get),
    line('lru-cache `await fetch()` hit', f.fetch),
    line('coop-cache `await cached()` hit (near copy), no bus (the default)', f.coop),
    line('coop-cache `await cached()` hit (near copy), with a bus (liveness checked)', f.coopBus),
    line(`lru-cache \`await fetch()\` hit, cache with \`ttl\``, f.fetchTtl),
    line(`coop-cache \`await cached()\` hit (near copy), cache with \`ttl\` (expiry checked)`, f.coopTtl),
    line('anatomy: `await Promise.resolve(v)`', f.awaitResolved),
    line('anatomy: `monotonic()` (sync; the clock read of the liveness check: `performance.now()` and an offset)', f.clock),
    line('anatomy: replica of the near-hit steps, no bus, awaited', f.replica),
    line('anatomy: the same replica with the liveness check', f.replicaLive),
  ]
  const head = ['subject', 'throughput (one at a time)', 'p50', 'p99', 'spread of rounds']
  const ratios = (f: Figures) => ({
    vsFetch: f.coop.rate / f.fetch.rate,
    vsGet: f.coop.rate / f.get.rate,
    p50vsFetch: f.coop.p50 / f.fetch.p50,
    busVsFetch: f.coopBus.rate / f.fetch.rate,
    busVsPlain: f.coopBus.rate / f.coop.rate,
    busP50vsFetch: f.coopBus.p50 / f.fetch.p50,
    ttlVsFetchTtl: f.coopTtl.rate / f.fetchTtl.rate,
    ttlP50vsFetchTtl: f.coopTtl.p50 / f.fetchTtl.p50,
    ttlVsPlain: f.coopTtl.rate / f.coop.rate,
  })
  const m = ratios(main)
  const w = ratios(worker)
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`
  const said = (r: ReturnType<typeof ratios>, f: Figures) =>
    `coop-cache hit throughput / lru-cache \`await fetch()\`: **${ratio(r.vsFetch)}** (aim: ≥ 1.00x); / lru-cache \`get\`: ${ratio(r.vsGet)}. Latency p50 coop / fetch: ${ratio(r.p50vsFetch)}. ` +
    `With a bus: **${ratio(r.busVsFetch)}** of \`await fetch()\` (p50 ${ratio(r.busP50vsFetch)}), ${ratio(r.busVsPlain)} of the hit without a bus. ` +
    `With a \`ttl\`: **${ratio(r.ttlVsFetchTtl)}** of lru-cache \`await fetch()\` with its own \`ttl\` (aim: ≥ ${ratio(TTL_AIM)}; p50 ${ratio(r.ttlP50vsFetchTtl)}), ${ratio(r.ttlVsPlain)} of the hit without one. ` +
    `Share of the measured coop calls served from a near copy: ${pct(f.nearShare)} without a bus, ${pct(f.busNearShare)} with, ${pct(f.ttlNearShare)} with a \`ttl\`.`
  const markdown = [
    `${HOT} hot keys, values \`{ id, name, tags: ['a','b'] }\`, keys strings. ${(options.quick ? 30_000 : 200_000).toLocaleString('en-US')} calls per measurement, ${options.rounds} rounds, subjects interleaved; each figure is the median over rounds. Throughput is measured without timers in the loop; latency times every call with \`process.hrtime.bigint()\`, whose own cost (the timer floor, ${ns(main.timerFloor)} here) is inside every latency figure.`,
    '',
    `Three caches hold the hot keys: one without a bus (the default), one with a bus, where every near hit first checks in shared memory until when this process may serve (an \`Atomics.load\` and a read of the monotonic clock, \`performance.now()\` and an offset; src/shared/memory/liveness.ts, src/shared/clock.ts). That bus is a \`memoryBus()\` with this one cache on it, so that the check runs; a near hit in a real cluster (ipc, NATS, Redis) makes the same check and nothing more, since the bus is not on the near-hit path. What a clock read costs depends on the machine and its clock source (the kernel's here: ${clockSource()}). The third is a cache created with \`ttl\` (${TTL / 60_000} minutes, so nothing expires during the run), where every near hit also compares its copy's expiry with the same clock; beside it, lru-cache \`fetch()\` on a cache with its own \`ttl\` (the same), which checks staleness on every hit too. The replica rows model a near hit's steps in the benchmark itself (a model, not the library; only the difference between its two forms is read from it).`,
    '',
    '### 1. From the main thread',
    '',
    table(head, rows(main)),
    '',
    said(m, main),
    '',
    '### 2. From a worker thread that `attach`es',
    '',
    table(head, rows(worker)),
    '',
    said(w, worker),
    '',
    '### Both threads hitting at once',
    '',
    `The main thread and the worker each run ${options.quick ? '100,000' : '1,000,000'} hits at the same moment (released by a shared gate), on the one coop-cache without a bus, or each on its own lru-cache; median over ${options.rounds} rounds of both threads' rates.`,
    '',
    table(
      ['subject', 'per-thread throughput, both at once', 'alone (main thread, above)', 'at once / alone'],
      [
        ['lru-cache `await fetch()` hit', rate(fetchTogether.rate), rate(main.fetch.rate), ratio(fetchTogether.rate / main.fetch.rate)],
        ['coop-cache `await cached()` hit (near copy), no bus', rate(coopTogether.rate), rate(main.coop.rate), ratio(coopTogether.rate / main.coop.rate)],
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
      mainBusRate: main.coopBus.rate,
      mainBusP50: main.coopBus.p50,
      mainBusP99: main.coopBus.p99,
      mainBusRatioVsFetch: m.busVsFetch,
      mainBusVsPlain: m.busVsPlain,
      mainBusNearShare: main.busNearShare,
      mainAwaitRate: main.awaitResolved.rate,
      mainClockRate: main.clock.rate,
      mainReplicaRate: main.replica.rate,
      mainReplicaLiveRate: main.replicaLive.rate,
      togetherCoopVsAlone: coopTogether.rate / main.coop.rate,
      togetherFetchVsAlone: fetchTogether.rate / main.fetch.rate,
      mainNearShare: main.nearShare,
      mainTtlRate: main.coopTtl.rate,
      mainTtlP50: main.coopTtl.p50,
      mainTtlP99: main.coopTtl.p99,
      mainFetchTtlRate: main.fetchTtl.rate,
      mainFetchTtlP50: main.fetchTtl.p50,
      mainTtlRatioVsFetchTtl: m.ttlVsFetchTtl,
      mainTtlVsPlain: m.ttlVsPlain,
      mainTtlNearShare: main.ttlNearShare,
      workerTtlRate: worker.coopTtl.rate,
      workerFetchTtlRate: worker.fetchTtl.rate,
      workerTtlRatioVsFetchTtl: w.ttlVsFetchTtl,
      workerTtlVsPlain: w.ttlVsPlain,
      workerTtlNearShare: worker.ttlNearShare,
      workerCoopRate: worker.coop.rate,
      workerFetchRate: worker.fetch.rate,
      workerRatioVsFetch: w.vsFetch,
      workerBusRate: worker.coopBus.rate,
      workerBusRatioVsFetch: w.busVsFetch,
      workerBusVsPlain: w.busVsPlain,
      workerNearShare: worker.nearShare,
      workerBusNearShare: worker.busNearShare,
      workerClockRate: worker.clock.rate,
      timerFloor: main.timerFloor,
      togetherCoopRate: coopTogether.rate,
      togetherFetchRate: fetchTogether.rate,
      togetherRatio: coopTogether.rate / fetchTogether.rate,
    },
  }
}

type Request =
  | { readonly kind: 'measure'; readonly handle: CacheHandle; readonly busHandle: CacheHandle; readonly ttlHandle: CacheHandle; readonly rounds: number; readonly quick: boolean }
  | { readonly kind: 'side'; readonly name: 'coop' | 'fetch'; readonly calls: number; readonly gate: SharedArrayBuffer }

if (!isMainThread && (workerData as { role?: string } | null)?.role === 'hit-worker' && parentPort !== null) {
  let mine: { caches: Caches; subjects: Subjects } | undefined
  serve(parentPort, async (request: Request) => {
    if (request.kind === 'measure') {
      const caches: Caches = { plain: attach(request.handle), bus: attach(request.busHandle), ttl: attach(request.ttlHandle) }
      mine = { caches, subjects: await subjectsFor(caches) }
      return measure(caches, request.rounds, request.quick)
    }
    if (mine === undefined) throw new Error('side-by-side run before the measurement')
    return sideBySide(mine.subjects, request.name, request.calls, new Int32Array(request.gate))
  })
}

if (isEntry(import.meta.url)) await runAlone(hit)
