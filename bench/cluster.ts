// Scenario 7: one cache across processes, over each bus coop-cache has for them: node IPC
// (ipcBus; this process is the hub that routes between the processes it forked, as a
// node:cluster primary is), NATS and Redis. Three peer processes, A, B and C
// (lib/cluster-peer.ts, forked from here), each with a cache of one owner thread (three
// processes already share the cores) and near copies off (nearLimit: 0), all on the bus under
// test. For each bus, in one run:
//
// - a remote hit: A asks for keys that B owns and has stored. Each key is asked once: A's owner
//   keeps what it received from B (near copies off or not), so a second call for the same key
//   is served inside A and never crosses the bus; that second call is measured too, as an
//   anatomy row. Latency one call at a time, and throughput with IN_FLIGHT calls in flight.
//   Beside it, the floor: the bus's own round trip between the same two processes' main
//   threads (a member joined with Bus.join, no cache): A sends a 16-byte ping to B, B sends
//   it straight back. And the floor "split": each ping and pong sent from an event-loop task
//   of its own, as the peer agent sent before it gathered its messages over a turn of the loop
//   (one message per message from an owner thread): what batching is worth on each bus.
// - a cold-key stampede: K cold keys, N callers in each of the three processes, released
//   together; computations run in the three, against K.
// - reset propagation: A calls reset(); B's and C's onReset note when they are called, on the
//   machine's monotonic clock (process.hrtime: CLOCK_MONOTONIC, one clock for every process of
//   the machine), as does A before and after its reset() call.
// - invalidate propagation: a key held in A, B and C; A calls invalidate(cache, key), timed until
//   it resolves (every live peer has applied it, over two confirmed rounds). Every other one,
//   B and C also peek at the key, one peek after another, and note when it is gone; the others
//   are not watched, so that the watching does not weigh on the time to resolve.
//
// - the cost of a secret: each process opens a second cache on the same bus, the same but for
//   `secret` (every message sealed with HMAC-SHA256); its remote hits are measured in the same
//   rounds as the first cache's (the two taking turns at going first) and its resets alternate
//   with the first cache's. Beside them, sealing and opening one message alone, in a loop.
//
// And beside them what a user would otherwise do across processes: cache-aside in Redis with a
// lock per key (lib/redis-lock.ts): its hit (GET + JSON.parse) and the same stampede.
//
// NATS and Redis are taken from COOP_CACHE_NATS_URL and COOP_CACHE_REDIS_URL (defaults
// nats://127.0.0.1:4222 and redis://127.0.0.1:6379), as the tests do; a broker that is not
// reachable has its rows left out, with a line that says so.
//
// Alone: `npm run build && node dist/bench/cluster.js`

import { randomBytes, randomUUID } from 'node:crypto'
import { cpus, loadavg } from 'node:os'
import { serialize } from 'node:v8'
import { setTimeout as sleep } from 'node:timers/promises'
import { ipcBus } from 'coop-cache'
import { cluster as clusterVerdict } from './lib/aims.js'
import {
  COMPUTE_MS,
  GET_KEYS,
  WATCH_MS,
  IN_FLIGHT,
  POLL_MS,
  valueOf,
  type BusName,
  type Command,
  type Opened,
  type StampedeDone,
  type Subject,
  type Tally,
  type Variant,
} from './lib/cluster-peer.js'
import { Rounds, median, ns, quantile, rate, ratio, table, throughputSync } from './lib/measure.js'
import { NATS_URL, REDIS_URL, unreachable } from './lib/brokers.js'
import { stampedeRoundOf, type Gone, type Measured, type StampedeRound as Round, type Timed } from './lib/probes.js'
import { startPeer, type Peer } from './lib/processes.js'
// Not public API: the envelope every bus message travels in, and key encoding, for the anatomy of a secret's cost.
import { Seal } from '../src/peer/seal.js'
import { encodeKey } from '../src/shared/key.js'
import { isEntry, runAlone, trace, type Options, type Section } from './lib/scenario.js'

const ALL_BUSES: readonly BusName[] = ['ipc', 'nats', 'redis']
/** BENCH_CLUSTER_BUSES=nats,redis runs only those (a trial; the section says which ran). */
const BUSES = ALL_BUSES.filter((b) => (process.env.BENCH_CLUSTER_BUSES ?? ALL_BUSES.join(',')).split(',').includes(b))
const BUS_LABEL: Record<BusName, string> = { ipc: 'ipc (`ipcBus`)', nats: 'NATS (`natsBus`)', redis: 'Redis (`redisBus`)' }

const valueSize = serialize(valueOf(7)).byteLength

interface Sizes {
  readonly latencyCalls: number
  readonly pipelinedCalls: number
  readonly warmLatency: number
  readonly warmPipelined: number
  readonly stampedeKeys: number
  readonly stampedeCallers: number
  readonly resets: number
}

function sizesOf(options: Options): Sizes {
  return options.quick
    ? { latencyCalls: 300, pipelinedCalls: 2_000, warmLatency: 100, warmPipelined: 500, stampedeKeys: 20, stampedeCallers: 200, resets: 10 }
    : { latencyCalls: 2_000, pipelinedCalls: 10_000, warmLatency: 200, warmPipelined: 1_000, stampedeKeys: 50, stampedeCallers: 1_000, resets: 30 }
}

// ---------------------------------------------------------------------------------------------
// The scenario's side: this process, the ipcBus hub

/** A stampede round, with the Redis commands the lock baseline took. */
interface StampedeRound extends Round {
  readonly commands: number
  readonly rechecks: number
}

/** One reset: ms from A's reset() call to onReset in B, in C; to reset() resolving in A. */
interface ResetTimes {
  readonly b: number
  readonly c: number
  readonly resolved: number
}

const VARIANTS: readonly Variant[] = ['plain', 'sealed']

/** One invalidate in A: ms from the call to it resolving; with watchers, to the key gone in B, in C. */
interface InvalidateTimes {
  readonly resolved: number
  readonly watched: boolean
  readonly b: number
  readonly c: number
  /** ns per peek of the watchers, B's and C's (how finely "gone" is timed) */
  readonly peekNs: number[]
}

interface BusResult {
  readonly bus: BusName
  /** why it did not run */
  readonly skipped?: string
  readonly hit?: Record<Subject, { latency: Rounds; pipelined: Rounds }>
  readonly stampede?: StampedeRound[]
  readonly lock?: StampedeRound[]
  /** per cache (without and with a secret), per reset */
  readonly resets?: Record<Variant, ResetTimes[]>
  readonly missedResets?: Record<Variant, number>
  readonly tally?: Record<Variant, Tally>
  /** entries stored in A, B, C before the first reset, per cache */
  readonly entries?: Record<Variant, number[]>
  /** the cache without a secret: one per invalidate (the first, a warm-up, left out) */
  readonly invalidations?: InvalidateTimes[]
  /** invalidations where B or C did not hold the key first; that rejected; whose key a watcher still saw after WATCH_MS */
  readonly invalidateTrouble?: { notHeld: number; failed: string[]; notGone: number }
}

export async function cluster(options: Options): Promise<Section> {
  const sizes = sizesOf(options)
  const startedAt = new Date()
  const load = loadavg()
  // The hub: the processes forked here reach each other through it over ipcBus.
  const hub = ipcBus({ parent: false })
  const peers = await Promise.all(['A', 'B', 'C'].map((label) => startPeer(new URL('./lib/cluster-peer.js', import.meta.url), 'cluster-peer', label)))
  for (const peer of peers) hub.adopt(peer.process)
  const results: BusResult[] = []
  try {
    for (const bus of BUSES) {
      const why = bus === 'ipc' ? undefined : await unreachable(bus)
      results.push(why !== undefined ? { bus, skipped: why } : await measureBus(bus, peers, sizes, options))
    }
  } finally {
    await Promise.all(peers.map((peer) => peer.ask({ cmd: 'exit' }).catch(() => undefined)))
    await Promise.all(peers.map((peer) => (peer.process.exitCode === null ? new Promise((resolve) => peer.process.once('exit', resolve)) : undefined)))
    hub.close()
  }
  return report(results, sizes, options, { startedAt, load })
}

async function measureBus(bus: BusName, peers: Peer[], sizes: Sizes, options: Options): Promise<BusResult> {
  const [a, b, c] = peers as [Peer, Peer, Peer]
  const name = `bench-cluster-${bus}-${process.pid}`
  trace(`cluster ${bus}: open`)
  // Every peer opens two caches on the bus: without a secret, and with one (the same key in all three).
  const secret = randomBytes(32).toString('hex')
  const opened = await Promise.all(peers.map((peer) => peer.ask<Opened>({ cmd: 'open', bus, name, peers: 3, redis: bus === 'redis', secret } satisfies Command)))
  try {
    const warm = sizes.warmLatency + sizes.warmPipelined
    const count = warm + options.rounds * (sizes.latencyCalls + sizes.pipelinedCalls)
    trace(`cluster ${bus}: fill ${count} keys in B, in each cache`)
    for (const variant of VARIANTS) {
      const members = opened.map((o) => o[variant]).sort()
      const owner = (opened[1] as Opened)[variant]
      await Promise.all([a, b].map((peer) => peer.ask({ cmd: 'keys', variant, members, owner, count } satisfies Command)))
    }
    // A process that joined a running cluster first asks, at each miss until its next reset, the
    // key's owner before it joined (a newcomer does not compute again what another holds): one
    // reset now, so that B fills its keys at the pace of its own owner, not of a bus round trip.
    for (const variant of VARIANTS) await a.ask({ cmd: 'reset', variant, version: `${bus}-${variant}-0` } satisfies Command)
    await b.ask({ cmd: 'fill' } satisfies Command)
    await b.ask({ cmd: 'floor', topic: `${name}-floor`, as: 'B' } satisfies Command)
    await a.ask({ cmd: 'floor', topic: `${name}-floor`, as: 'A' } satisfies Command)
    const subjects: Subject[] = bus === 'redis' ? ['floor', 'split', 'coop', 'sealed', 'get'] : ['floor', 'split', 'coop', 'sealed']
    if (bus === 'redis') await a.ask({ cmd: 'get-fill', prefix: name } satisfies Command)

    const measure = (subject: Subject, mode: 'latency' | 'pipelined', from: number, n: number) =>
      a.ask<Measured>({ cmd: 'measure', subject, mode, from, n } satisfies Command)

    // Warm-up: every subject once, on keys of its own; the 'again' row asks the warm-up keys again.
    trace(`cluster ${bus}: warm-up`)
    for (const subject of subjects) {
      await measure(subject, 'latency', 0, sizes.warmLatency)
      await measure(subject, 'pipelined', sizes.warmLatency, sizes.warmPipelined)
    }
    const hit = Object.fromEntries((['floor', 'split', 'coop', 'sealed', 'again', 'get'] as const).map((s) => [s, { latency: new Rounds(), pipelined: new Rounds() }])) as NonNullable<BusResult['hit']>
    for (let r = 0; r < options.rounds; r++) {
      trace(`cluster ${bus}: hits, round ${r + 1}`)
      const base = warm + r * (sizes.latencyCalls + sizes.pipelinedCalls)
      const order = [...subjects.slice(r % subjects.length), ...subjects.slice(0, r % subjects.length)]
      // The two caches compared for the cost of a secret take turns at going first.
      const [first, second] = [order.indexOf('coop'), order.indexOf('sealed')].sort((x, y) => x - y) as [number, number]
      if ((order[first] === 'coop') !== (r % 2 === 0)) [order[first], order[second]] = [order[second] as Subject, order[first] as Subject]
      for (const subject of order) {
        const m = await measure(subject, 'latency', base, sizes.latencyCalls)
        hit[subject].latency.p50s.push(m.p50 as number)
        hit[subject].latency.p99s.push(m.p99 as number)
        hit[subject].latency.addRate(m.rate)
      }
      const again = await measure('again', 'latency', 0, sizes.warmLatency)
      hit.again.latency.p50s.push(again.p50 as number)
      hit.again.latency.p99s.push(again.p99 as number)
      hit.again.latency.addRate(again.rate)
      for (const subject of order) {
        hit[subject].pipelined.addRate((await measure(subject, 'pipelined', base + sizes.latencyCalls, sizes.pipelinedCalls)).rate)
      }
      hit.again.pipelined.addRate((await measure('again', 'pipelined', sizes.warmLatency, sizes.warmPipelined)).rate)
    }
    const tally = { plain: await a.ask<Tally>({ cmd: 'tally', variant: 'plain' } satisfies Command), sealed: await a.ask<Tally>({ cmd: 'tally', variant: 'sealed' } satisfies Command) }

    const stampede: StampedeRound[] = []
    const lock: StampedeRound[] = []
    for (let r = 0; r < options.rounds; r++) {
      const kinds = bus !== 'redis' ? (['coop'] as const) : r % 2 === 0 ? (['coop', 'lock'] as const) : (['lock', 'coop'] as const)
      for (const kind of kinds) {
        trace(`cluster ${bus}: stampede ${kind}, round ${r + 1}`)
        const round = await stampedeRound(peers, kind, `${name}:cold:${kind}:${r}`, sizes)
        ;(kind === 'coop' ? stampede : lock).push(round)
      }
    }

    trace(`cluster ${bus}: resets`)
    // The first reset drops what the measurements above stored: told apart in the section.
    const entriesOf = async (variant: Variant) => (await Promise.all(peers.map((peer) => peer.ask<Tally>({ cmd: 'tally', variant } satisfies Command)))).map((t) => t.entries)
    const entries = { plain: await entriesOf('plain'), sealed: await entriesOf('sealed') }
    const resets: Record<Variant, ResetTimes[]> = { plain: [], sealed: [] }
    const missedResets: Record<Variant, number> = { plain: 0, sealed: 0 }
    for (let i = 0; i < sizes.resets; i++) {
      // Each reset in both caches, one after the other, the two taking turns at going first.
      for (const variant of i % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
        const version = `${bus}-${variant}-${i + 1}`
        const [done, atB, atC] = await Promise.all([
          a.ask<{ t0: string; t1: string }>({ cmd: 'reset', variant, version } satisfies Command),
          b.ask<string | null>({ cmd: 'heard', version } satisfies Command),
          c.ask<string | null>({ cmd: 'heard', version } satisfies Command),
        ])
        const t0 = BigInt(done.t0)
        const ms = (at: string | null) => (at === null ? Number.NaN : Number(BigInt(at) - t0) / 1e6)
        if (atB === null || atC === null) missedResets[variant]++
        resets[variant].push({ b: ms(atB), c: ms(atC), resolved: Number(BigInt(done.t1) - t0) / 1e6 })
        // Let a heartbeat or two pass now and then, as resets are spread out in real use.
        await sleep(20)
      }
    }
    trace(`cluster ${bus}: invalidations`)
    const { invalidations, trouble } = await invalidateRounds(peers, name, sizes)
    return { bus, hit, stampede, lock, resets, missedResets, tally, entries, invalidations, invalidateTrouble: trouble }
  } finally {
    await Promise.all(peers.map((peer) => peer.ask({ cmd: 'close' } satisfies Command)))
  }
}

/**
 * 2 × sizes.resets invalidations called in A (after one not counted), each of a key held in A, B
 * and C first, 20 ms apart; every other one watched by B and C.
 */
async function invalidateRounds(peers: Peer[], name: string, sizes: Sizes): Promise<{ invalidations: InvalidateTimes[]; trouble: NonNullable<BusResult['invalidateTrouble']> }> {
  const [a, b, c] = peers as [Peer, Peer, Peer]
  const others = [b, c]
  const invalidations: InvalidateTimes[] = []
  const trouble = { notHeld: 0, failed: [] as string[], notGone: 0 }
  for (let i = 0; i <= 2 * sizes.resets; i++) {
    const key = `${name}:inv:${i}`
    const watched = i % 2 === 1
    await a.ask({ cmd: 'inv-hold', key } satisfies Command)
    const held = await Promise.all(others.map((peer) => peer.ask<boolean>({ cmd: 'inv-hold', key } satisfies Command)))
    if (watched) await Promise.all(others.map((peer) => peer.ask({ cmd: 'inv-watch', key } satisfies Command)))
    const done = await a.ask<Timed>({ cmd: 'invalidate', key } satisfies Command)
    const gone = watched ? await Promise.all(others.map((peer) => peer.ask<Gone>({ cmd: 'inv-gone' } satisfies Command))) : []
    // Spread out, as invalidations are in real use.
    await sleep(20)
    if (i === 0) continue
    const t0 = BigInt(done.t0)
    if (held.includes(false)) trouble.notHeld++
    if (done.error !== undefined) trouble.failed.push(done.error)
    if (gone.some((g) => g.at === null)) trouble.notGone++
    const ms = (g: Gone | undefined) => (g === undefined || g.at === null ? Number.NaN : Number(BigInt(g.at) - t0) / 1e6)
    invalidations.push({ resolved: Number(BigInt(done.t1) - t0) / 1e6, watched, b: ms(gone[0]), c: ms(gone[1]), peekNs: gone.map((g) => g.ns / g.looks) })
  }
  return { invalidations, trouble }
}

async function stampedeRound(peers: Peer[], subject: 'coop' | 'lock', prefix: string, sizes: Sizes): Promise<StampedeRound> {
  await Promise.all(peers.map((peer) => peer.ask({ cmd: 'stampede-set', subject, prefix, keys: sizes.stampedeKeys, callers: sizes.stampedeCallers } satisfies Command)))
  // The three 'go's leave here one after the other, within microseconds.
  const dones = await Promise.all(peers.map((peer) => peer.ask<StampedeDone>({ cmd: 'stampede-go' } satisfies Command)))
  const sum = (f: (d: StampedeDone) => number) => dones.reduce((s, d) => s + f(d), 0)
  return { ...stampedeRoundOf(dones, Math.max(...dones.map((d) => d.ms))), commands: sum((d) => d.commands), rechecks: sum((d) => d.rechecks) }
}

/** The aim for `secret`: under 10% on a remote hit and on reset propagation. */
const SECRET_AIM_P50 = 1.1
const SECRET_AIM_RATE = 0.91

/**
 * ns to seal and open one message shaped as a remote hit's answer, with a secret and without
 * (src/peer/seal.ts, as the agent uses it), in this process; the two interleaved over rounds.
 */
function sealCost(options: Options): { sealed: number; plain: number; bytes: number } {
  const topic = `bench-cluster-${process.pid}-sealed`
  const peer = () => randomUUID()
  const payload = serialize({
    t: 'value',
    s: { clock: 1, origin: peer(), born: Date.now() },
    o: 0,
    i: peer(),
    r: 123_456,
    k: encodeKey('k:123456'),
    v: serialize(valueOf(123_456)),
    h: true,
    c: topic,
    f: peer(),
    q: 123_456,
    ts: Date.now(),
    to: peer(),
  })
  const seals = { sealed: new Seal(topic, [randomBytes(32)]), plain: new Seal(topic, []) }
  const n = options.quick ? 5_000 : 20_000
  const rounds = { sealed: new Rounds(), plain: new Rounds() }
  const once = (which: 'sealed' | 'plain') => {
    const s = seals[which]
    return throughputSync(n, () => {
      const opened = s.open(s.seal(payload))
      if (typeof opened === 'string') throw new Error(`the bench's own message was refused: ${opened}`)
      return opened
    })
  }
  once('sealed')
  once('plain')
  for (let r = 0; r < options.rounds; r++) {
    for (const which of r % 2 === 0 ? (['sealed', 'plain'] as const) : (['plain', 'sealed'] as const)) rounds[which].addRate(once(which))
  }
  return { sealed: 1e9 / rounds.sealed.rate, plain: 1e9 / rounds.plain.rate, bytes: payload.byteLength }
}

// ---------------------------------------------------------------------------------------------
// The section

function report(results: BusResult[], sizes: Sizes, options: Options, run: { startedAt: Date; load: number[] }): Section {
  const ran = results.filter((r) => r.skipped === undefined)
  const figures: Record<string, number> = { keys: sizes.stampedeKeys, callers: sizes.stampedeCallers, computeMs: COMPUTE_MS, inFlight: IN_FLIGHT, resets: sizes.resets - 1 }
  const out: string[] = []
  const cpu = cpus()
  out.push(
    `Run on ${cpu[0]?.model.trim() ?? 'unknown'} (${cpu.length} cores), Node ${process.version}, ${run.startedAt.toISOString()}, load average at the start of this scenario ${run.load.map((x) => x.toFixed(2)).join(', ')}. ` +
      `Three peer processes A, B, C forked by the scenario (which is the ipcBus hub, as a node:cluster primary is), each with two caches of one owner thread (\`threads: 1\`), \`nearLimit: 0\` and \`replicas: 1\` (so that a value lives in its owner alone, and another process must ask for it: scenario 8 sets the default, \`replicas: 'all'\`, beside it), one without a \`secret\` and one with (see "The cost of \`secret\`" below; every measurement but those is of the first), on one bus at a time: ${BUSES.map((b) => BUS_LABEL[b]).join(', ')}; NATS at ${NATS_URL}, Redis at ${REDIS_URL}, both on this machine. ${options.rounds} rounds of every measurement, subjects interleaved, medians over rounds.`,
  )
  for (const r of results) if (r.skipped !== undefined) out.push(`**${BUS_LABEL[r.bus]} was left out:** its broker is not reachable (${r.skipped}).`)

  // ---- remote hit ----
  out.push(
    '',
    '### A remote hit, beside the bus round trip',
    '',
    `A asks for keys that B owns and has stored (values \`{ id, name, tags }\`, ${valueSize} bytes serialized), each key once: ${sizes.latencyCalls.toLocaleString('en-US')} calls one at a time per round (p50, p99, and calls/s as 1 / mean), and ${sizes.pipelinedCalls.toLocaleString('en-US')} calls with ${IN_FLIGHT} in flight. The path of such a call: A's caller → A's owner thread → A's main thread (the peer agent) → the bus → B's agent → B's owner thread, and the same way back; over ipc, each bus leg also passes through the hub (this process). The floor is the bus alone between the same two main threads: a 16-byte ping that B's member sends straight back (\`BusMember.send\`). Anatomy rows: the floor with every ping and pong sent from an event-loop task of its own ("split"), as the agent sent before it gathered the messages of a turn of the event loop into one envelope per peer — what that batching is worth on each bus, most on a client that writes what was published within one task in one socket write (NATS); and "again": A asking a key it has fetched before, which A's owner kept (values from another process are kept, and counted in this process's memoryLimit, near copies or not), so that call never leaves A. The Redis GET row is a plain cache-aside hit from A: \`GET\` and \`JSON.parse\` on ${GET_KEYS} stored keys, over one ioredis connection. The "with \`secret\`" row is the same remote hit on the second cache, whose every message is sealed (its keys are other keys, stored in B the same way).`,
    '',
  )
  const rows: string[][] = []
  const ratios: string[][] = []
  for (const r of ran) {
    const h = r.hit!
    const row = (what: string, s: Subject) => {
      const l = h[s].latency
      const p = h[s].pipelined
      rows.push([BUS_LABEL[r.bus], what, ns(l.p50), ns(l.p99), rate(l.rate), rate(p.rate), `${p.spread.toFixed(0)}%`])
    }
    row('bus round trip, ping → pong (**the floor**)', 'floor')
    row('**coop-cache remote hit**', 'coop')
    row('**coop-cache remote hit, with `secret`**', 'sealed')
    row('anatomy: the floor, each message sent from a task of its own', 'split')
    row('anatomy: a key A asked before (kept in A: no bus)', 'again')
    if (r.bus === 'redis') row('Redis `GET` + `JSON.parse` (cache-aside hit)', 'get')
    const p50 = h.coop.latency.p50 / h.floor.latency.p50
    const p99 = h.coop.latency.p99 / h.floor.latency.p99
    const pipe = h.coop.pipelined.rate / h.floor.pipelined.rate
    const pipeSplit = h.coop.pipelined.rate / h.split.pipelined.rate
    ratios.push([BUS_LABEL[r.bus], `**${ratio(p50)}**`, ratio(p99), `**${ratio(pipe)}**`, ratio(pipeSplit), ns(h.coop.latency.p50 - h.floor.latency.p50)])
    const put = (name: string, value: number) => (figures[`${r.bus}${name}`] = value)
    put('HitP50', h.coop.latency.p50)
    put('HitP99', h.coop.latency.p99)
    put('HitRate', h.coop.latency.rate)
    put('HitPipe', h.coop.pipelined.rate)
    put('FloorP50', h.floor.latency.p50)
    put('FloorP99', h.floor.latency.p99)
    put('FloorPipe', h.floor.pipelined.rate)
    put('SplitPipe', h.split.pipelined.rate)
    put('AgainP50', h.again.latency.p50)
    put('SecretHitP50', h.sealed.latency.p50)
    put('SecretHitP99', h.sealed.latency.p99)
    put('SecretHitRate', h.sealed.latency.rate)
    put('SecretHitPipe', h.sealed.pipelined.rate)
    put('SecretHitP50Ratio', h.sealed.latency.p50 / h.coop.latency.p50)
    put('SecretHitP99Ratio', h.sealed.latency.p99 / h.coop.latency.p99)
    put('SecretHitPipeRatio', h.sealed.pipelined.rate / h.coop.pipelined.rate)
    put('HitPipeSpread', h.coop.pipelined.spread)
    put('SecretHitPipeSpread', h.sealed.pipelined.spread)
    put('Unexpected', r.tally!.plain.unexpected)
    put('SecretUnexpected', r.tally!.sealed.unexpected)
    put('Dropped', r.tally!.plain.dropped)
    put('SecretDropped', r.tally!.sealed.dropped)
    if (r.bus === 'redis') {
      figures.getP50 = h.get.latency.p50
      figures.getP99 = h.get.latency.p99
      figures.getRate = h.get.latency.rate
      figures.getPipe = h.get.pipelined.rate
    }
  }
  out.push(table(['bus', 'what', 'p50', 'p99', 'calls/s, one at a time', `calls/s, ${IN_FLIGHT} in flight`, 'spread of rounds (in flight)'], rows))
  out.push('', table(['bus', 'remote hit p50 / floor p50', 'p99 / floor p99', 'in flight: remote hit / floor', 'in flight: remote hit / split floor', 'p50 above the floor'], ratios))
  const redis = ran.find((r) => r.bus === 'redis')
  if (redis !== undefined) {
    const h = redis.hit!
    out.push('', `Over Redis, a coop-cache remote hit against a plain Redis \`GET\` from the same process: p50 ${ratio(h.coop.latency.p50 / h.get.latency.p50)} the time, ${IN_FLIGHT} in flight ${ratio(h.coop.pipelined.rate / h.get.pipelined.rate)} the rate. A key A has had before ("again") against the \`GET\`: p50 ${ratio(h.again.latency.p50 / h.get.latency.p50)} the time.`)
  }
  const both = (f: (t: Tally) => number) => ran.map((r) => `${r.bus} ${f(r.tally!.plain)} / ${f(r.tally!.sealed)}`).join(', ')
  out.push('', `Sanity, without / with a secret: computations in A where every call should have been a hit: ${both((t) => t.unexpected)}; bus messages A refused (\`stats().dropped\`): ${both((t) => t.dropped)}.`)

  // ---- stampede ----
  const calls = 3 * sizes.stampedeCallers
  out.push(
    '',
    '### Cold-key stampede across three processes',
    '',
    `${sizes.stampedeCallers.toLocaleString('en-US')} callers in each of A, B and C (${calls.toLocaleString('en-US')} calls) on K = ${sizes.stampedeKeys} cold keys (caller j asks key j mod K), each process's callers started together on one word from this process; each \`fn\` counts itself and takes ${COMPUTE_MS} ms. New keys each round, ${options.rounds} rounds. The lock baseline (lib/redis-lock.ts): \`GET\`; on a miss \`SET key:lock NX PX\`; the winner \`GET\`s once more, computes, \`SET\`s the value and \`DEL\`s the lock; the others \`GET\` every ${POLL_MS} ms until the value is there (values as JSON). Wall time: from a process's start to its last answer, the slowest of the three.`,
    '',
  )
  const srows: string[][] = []
  const stampedeRow = (label: string, rounds: StampedeRound[], extra: string) => {
    const counts = rounds.map((x) => x.computations)
    srows.push([label, String(median(counts)), counts.join(', '), `${sizes.stampedeKeys} (K)`, `${median(rounds.map((x) => x.wallMs)).toFixed(1)} ms`, extra])
  }
  for (const r of ran) {
    stampedeRow(`coop-cache over ${BUS_LABEL[r.bus]}`, r.stampede!, 'bus messages, not counted')
    const counts = r.stampede!.map((x) => x.computations)
    figures[`${r.bus}StampedeMedian`] = median(counts)
    figures[`${r.bus}StampedeExact`] = counts.every((n) => n === sizes.stampedeKeys) ? 1 : 0
    figures[`${r.bus}StampedeWallMs`] = median(r.stampede!.map((x) => x.wallMs))
  }
  if (redis?.lock !== undefined && redis.lock.length > 0) {
    const l = redis.lock
    stampedeRow('Redis `GET` / `SET NX` lock per key', l, `${median(l.map((x) => x.commands)).toLocaleString('en-US')} Redis commands (median), ${median(l.map((x) => x.rechecks))} saved by the second GET`)
    figures.lockStampedeMedian = median(l.map((x) => x.computations))
    figures.lockWallMs = median(l.map((x) => x.wallMs))
    figures.lockCommands = median(l.map((x) => x.commands))
  }
  out.push(table(['subject', 'computations, median', 'computations, every round', 'goal', 'wall time, median', 'cost'], srows))
  const everyRound = [...ran.flatMap((r) => [...r.stampede!, ...(r.lock ?? [])])]
  const wrong = everyRound.reduce((s, x) => s + x.wrong, 0)
  const errors = everyRound.flatMap((x) => x.errors)
  figures.stampedeWrong = wrong
  figures.stampedeErrors = errors.length
  const spread = ran.map((r) => `${r.bus}: ${r.stampede!.map((x) => x.perProcess.join('/')).join(', ')}`).join('; ')
  out.push('', `Computations per process (A/B/C), every round: ${spread}. Answers that were not the asked key's value: ${wrong}; errors: ${errors.length === 0 ? 'none' : errors.slice(0, 3).join('; ')}.`)

  // ---- resets ----
  out.push(
    '',
    '### Reset propagation',
    '',
    `${sizes.resets} resets one after another (20 ms apart) in each cache, the cache without a secret and the one with one taking turns at going first, each called in A; the time from A's \`reset()\` call to \`onReset\` being called in B and in C, read on the machine's monotonic clock (\`process.hrtime\`, one clock for every process here), and to A's \`reset()\` resolving (which waits for its owner to drop the old entries and for every live peer's acknowledgement). The first reset of each cache drops the entries the measurements above stored, and is shown apart; p50 / p99 are over the other ${sizes.resets - 1} (with so few, p99 is the slowest).`,
    '',
  )
  const rrows: string[][] = []
  const msf = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)} ms` : 'n/a')
  for (const r of ran) {
    for (const variant of VARIANTS) {
      // The first reset drops what the hit measurements stored; the others find little to drop.
      const [first, ...rest] = r.resets![variant]
      const q = (f: (x: ResetTimes) => number) => {
        const sorted = Float64Array.from(rest.map(f)).sort()
        return [quantile(sorted, 0.5), quantile(sorted, 0.99)] as const
      }
      const [bP50, bP99] = q((x) => x.b)
      const [cP50, cP99] = q((x) => x.c)
      const [allP50, allP99] = q((x) => Math.max(x.b, x.c))
      const [resP50, resP99] = q((x) => x.resolved)
      const e = r.entries?.[variant] ?? []
      rrows.push([
        variant === 'plain' ? BUS_LABEL[r.bus] : `${BUS_LABEL[r.bus]}, with \`secret\``,
        `${msf(bP50)} / ${msf(bP99)}`,
        `${msf(cP50)} / ${msf(cP99)}`,
        `**${msf(allP50)} / ${msf(allP99)}**`,
        `${msf(resP50)} / ${msf(resP99)}`,
        first === undefined ? 'n/a' : `${msf(Math.max(first.b, first.c))}; resolved ${msf(first.resolved)} (${e.map((n) => n.toLocaleString('en-US')).join(' / ')} entries in A / B / C)`,
        String(r.missedResets![variant]),
      ])
      const put = (name: string, value: number) => (figures[`${r.bus}${variant === 'plain' ? '' : 'Secret'}${name}`] = value)
      put('ResetAllP50', allP50)
      put('ResetAllP99', allP99)
      put('ResetResolvedP50', resP50)
      put('ResetResolvedP99', resP99)
      put('FirstResetResolved', first?.resolved ?? Number.NaN)
      put('ResetMissed', r.missedResets![variant])
    }
    figures[`${r.bus}SecretResetP50Ratio`] = (figures[`${r.bus}SecretResetAllP50`] as number) / (figures[`${r.bus}ResetAllP50`] as number)
    figures[`${r.bus}SecretResetP99Ratio`] = (figures[`${r.bus}SecretResetAllP99`] as number) / (figures[`${r.bus}ResetAllP99`] as number)
  }
  out.push(table(['bus', 'to onReset in B, p50 / p99', 'in C, p50 / p99', 'in both (the later), p50 / p99', "A's reset() resolved, p50 / p99", 'the first reset: in both; resolved (entries it dropped)', 'resets not heard within 10 s'], rrows))
  out.push('', `The lock baseline has no reset of its own: a user of it deletes the keys (SCAN + DEL) or puts a version in every key, and nothing tells the other processes.`)

  // ---- invalidate ----
  out.push(
    '',
    '### Invalidate propagation',
    '',
    `${2 * sizes.resets} invalidations one after another (20 ms apart, after one not counted), in the cache without a secret, each called in A on a key of its own that A, B and C each held first (computed in one, asked of it and kept by the others: \`has\` said so in B and C). The time from A's \`invalidate(cache, key)\` call to it resolving, which is when every live peer has applied it (two confirmed rounds over the bus). Every other invalidation B and C watched: each called \`peek(cache, key)\`, one call after another (each a round trip to its owner thread), from before A's call until the key was gone, and noted when the first \`peek\` that found it gone returned — so "gone" is late by at most one \`peek\`, whose mean time is given. Watching keeps B's and C's main and owner threads busy, on a machine whose cores everything shares, so \`invalidate()\` resolving is given for the unwatched and the watched ones apart. Beside them, from the reset measurement above (the same cache): \`reset()\` to \`onReset\` in both other processes, and to \`reset()\` resolving in A. p50 / p99 over ${sizes.resets} of each (with so few, p99 is the slowest).`,
    '',
  )
  const irows: string[][] = []
  const troubles: string[] = []
  for (const r of ran) {
    const all = r.invalidations ?? []
    const q = (xs: number[]) => {
      const sorted = Float64Array.from(xs).sort()
      return [quantile(sorted, 0.5), quantile(sorted, 0.99)] as const
    }
    const watched = all.filter((x) => x.watched)
    const [resP50, resP99] = q(all.filter((x) => !x.watched).map((x) => x.resolved))
    const [wResP50, wResP99] = q(watched.map((x) => x.resolved))
    const [bP50, bP99] = q(watched.map((x) => x.b))
    const [cP50, cP99] = q(watched.map((x) => x.c))
    const [goneP50, goneP99] = q(watched.map((x) => Math.max(x.b, x.c)))
    const peek = median(watched.flatMap((x) => x.peekNs))
    const g = (name: string) => figures[`${r.bus}${name}`] as number
    irows.push([
      BUS_LABEL[r.bus],
      `**${msf(resP50)} / ${msf(resP99)}**`,
      `${msf(wResP50)} / ${msf(wResP99)}`,
      `${msf(bP50)} / ${msf(bP99)}`,
      `${msf(cP50)} / ${msf(cP99)}`,
      `**${msf(goneP50)} / ${msf(goneP99)}**`,
      ns(peek),
      `${msf(g('ResetAllP50'))} / ${msf(g('ResetAllP99'))}`,
      `${msf(g('ResetResolvedP50'))} / ${msf(g('ResetResolvedP99'))}`,
    ])
    const put = (name: string, value: number) => (figures[`${r.bus}${name}`] = value)
    put('InvResolvedP50', resP50)
    put('InvResolvedP99', resP99)
    put('InvWatchedResolvedP50', wResP50)
    put('InvWatchedResolvedP99', wResP99)
    put('InvGoneAllP50', goneP50)
    put('InvGoneAllP99', goneP99)
    put('InvPeekNs', peek)
    const t = r.invalidateTrouble ?? { notHeld: 0, failed: [], notGone: 0 }
    put('InvNotHeld', t.notHeld)
    put('InvFailed', t.failed.length)
    put('InvNotGone', t.notGone)
    if (t.notHeld + t.failed.length + t.notGone > 0) {
      troubles.push(`${BUS_LABEL[r.bus]}: ${t.notHeld} key(s) not held in B or C before the call, ${t.failed.length} invalidation(s) rejected${t.failed.length > 0 ? ` (${[...new Set(t.failed)].slice(0, 2).join('; ')})` : ''}, ${t.notGone} whose key a watcher still saw after ${WATCH_MS / 1000} s`)
    }
  }
  out.push(
    table(
      ['bus', '`invalidate()` resolved in A, p50 / p99', 'resolved, while B and C watched', 'key gone in B', 'in C', 'in both (the later)', 'one `peek`, mean', 'beside it: `reset()` to `onReset` in both', '`reset()` resolved in A'],
      irows,
    ),
  )
  out.push('', troubles.length === 0 ? 'Every key was held in B and C before the call, every invalidation resolved, and every watched key was gone in both.' : `**Not as expected:** ${troubles.join('; ')}.`)

  // ---- secret ----
  out.push(
    '',
    '### The cost of `secret`',
    '',
    `Each process has a second cache open on the same bus, the same in every option but \`secret\` (32 random bytes, the same in the three processes): every message it sends is sealed with HMAC-SHA256 and every one it receives is checked before it is read (src/peer/seal.ts). Both caches number their messages and check each sender's sequence (src/peer/replay.ts), with a secret or without. Their remote hits were measured in the same rounds (the two taking turns at going first) and their resets alternated, as above; here side by side. Aim: under 10% — with / without at most ${ratio(SECRET_AIM_P50)} for p50, at least ${ratio(SECRET_AIM_RATE)} for the rate with ${IN_FLIGHT} in flight.`,
    '',
  )
  const srows2: string[][] = []
  const cell = (without: string, withSecret: string, x: number, aim?: (x: number) => boolean) => `${without} → ${withSecret}: ${aim === undefined ? ratio(x) : `**${ratio(x)}**${aim(x) ? '' : ' (missed)'}`}`
  for (const r of ran) {
    const g = (name: string) => figures[`${r.bus}${name}`] as number
    srows2.push([
      BUS_LABEL[r.bus],
      cell(ns(g('HitP50')), ns(g('SecretHitP50')), g('SecretHitP50Ratio'), (x) => x <= SECRET_AIM_P50),
      cell(ns(g('HitP99')), ns(g('SecretHitP99')), g('SecretHitP99Ratio')),
      cell(rate(g('HitPipe')), rate(g('SecretHitPipe')), g('SecretHitPipeRatio'), (x) => x >= SECRET_AIM_RATE),
      cell(msf(g('ResetAllP50')), msf(g('SecretResetAllP50')), g('SecretResetP50Ratio'), (x) => x <= SECRET_AIM_P50),
      cell(msf(g('ResetAllP99')), msf(g('SecretResetAllP99')), g('SecretResetP99Ratio')),
    ])
  }
  out.push(table(['bus', 'remote hit p50, without → with: ratio', 'remote hit p99', `remote hit, ${IN_FLIGHT} in flight`, 'reset, to onReset in both, p50', 'reset, in both, p99'], srows2))
  const seal = sealCost(options)
  figures.sealOpenNs = seal.sealed
  figures.plainSealOpenNs = seal.plain
  figures.sealedMessageBytes = seal.bytes
  out.push(
    '',
    `Anatomy: sealing and then opening one message shaped as B's answer to a remote hit (a \`value\` of this value, ${seal.bytes} bytes serialized), in a loop in this process, median over ${options.rounds} rounds: ${ns(seal.sealed)} per message with a secret, ${ns(seal.plain)} without (the envelope's two bytes alone). A remote hit carries at least two messages, A's \`get\` and B's \`value\`, each sealed once and opened once; a reset, one \`reset\` sealed in A and opened in B and in C, before their acknowledgements.`,
  )

  out.push('', '### What these figures say', '', clusterVerdict(figures).join('\n\n'))
  return { title: '7. Across processes: ipc, NATS, Redis', markdown: out.join('\n'), figures }
}

if (isEntry(import.meta.url)) await runAlone(cluster)
