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
//   of its own, as the peer agent sends (one message per message from an owner thread), which
//   shows what a client's batching of the writes made within one task is worth.
// - a cold-key stampede: K cold keys, N callers in each of the three processes, released
//   together; computations run in the three, against K.
// - reset propagation: A calls reset(); B's and C's onReset note when they are called, on the
//   machine's monotonic clock (process.hrtime: CLOCK_MONOTONIC, one clock for every process of
//   the machine), as does A before and after its reset() call.
//
// And beside them what a user would otherwise do across processes: cache-aside in Redis with a
// lock per key (lib/redis-lock.ts): its hit (GET + JSON.parse) and the same stampede.
//
// NATS and Redis are taken from COOP_CACHE_NATS_URL and COOP_CACHE_REDIS_URL (defaults
// nats://127.0.0.1:4222 and redis://127.0.0.1:6379), as the tests do; a broker that is not
// reachable has its rows left out, with a line that says so.
//
// Alone: `npm run build && node dist/bench/cluster.js`

import { connect } from 'node:net'
import { cpus, loadavg } from 'node:os'
import { serialize } from 'node:v8'
import { setTimeout as sleep } from 'node:timers/promises'
import { ipcBus } from 'coop-cache'
import { cluster as clusterVerdict } from './lib/aims.js'
import {
  COMPUTE_MS,
  GET_KEYS,
  IN_FLIGHT,
  NATS_URL,
  POLL_MS,
  REDIS_URL,
  valueOf,
  type BusName,
  type Command,
  type Measured,
  type StampedeDone,
  type Subject,
  type Tally,
} from './lib/cluster-peer.js'
import { Rounds, median, ns, quantile, rate, ratio, table } from './lib/measure.js'
import { startPeer, type Peer } from './lib/processes.js'
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

interface StampedeRound {
  readonly computations: number
  readonly perProcess: number[]
  readonly wallMs: number
  readonly wrong: number
  readonly errors: string[]
  readonly commands: number
  readonly rechecks: number
}

interface BusResult {
  readonly bus: BusName
  /** why it did not run */
  readonly skipped?: string
  readonly hit?: Record<Subject, { latency: Rounds; pipelined: Rounds }>
  readonly stampede?: StampedeRound[]
  readonly lock?: StampedeRound[]
  /** per reset: ms from A's reset() call to onReset in B, in C; to reset() resolving in A */
  readonly resets?: { b: number; c: number; resolved: number }[]
  readonly missedResets?: number
  readonly tally?: Tally
  /** entries stored in A, B, C before the first reset */
  readonly entries?: number[]
}

/** Whether a TCP connection to the broker's address opens within 500 ms; else why not. */
function unreachable(bus: 'nats' | 'redis'): Promise<string | undefined> {
  const url = new URL(bus === 'nats' && !NATS_URL.includes('://') ? `nats://${NATS_URL}` : bus === 'nats' ? NATS_URL : REDIS_URL)
  const port = Number(url.port) || (bus === 'nats' ? 4222 : 6379)
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname || '127.0.0.1', port, timeout: 500 })
    const done = (why: string | undefined) => {
      socket.destroy()
      resolve(why)
    }
    socket
      .once('connect', () => done(undefined))
      .once('timeout', () => done(`nothing answered on ${url.hostname}:${port} within 500 ms`))
      .once('error', (error) => done(`${url.hostname}:${port}: ${error.message}`))
  })
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
  const opened = await Promise.all(peers.map((peer) => peer.ask<{ peer: string }>({ cmd: 'open', bus, name, peers: 3, redis: bus === 'redis' } satisfies Command)))
  try {
    const members = opened.map((o) => o.peer).sort()
    const owner = (opened[1] as { peer: string }).peer
    const warm = sizes.warmLatency + sizes.warmPipelined
    const count = warm + options.rounds * (sizes.latencyCalls + sizes.pipelinedCalls)
    trace(`cluster ${bus}: fill ${count} keys in B`)
    await Promise.all([a, b].map((peer) => peer.ask({ cmd: 'keys', members, owner, count } satisfies Command)))
    await b.ask({ cmd: 'fill' } satisfies Command)
    await b.ask({ cmd: 'floor', topic: `${name}-floor`, as: 'B' } satisfies Command)
    await a.ask({ cmd: 'floor', topic: `${name}-floor`, as: 'A' } satisfies Command)
    const subjects: Subject[] = bus === 'redis' ? ['floor', 'split', 'coop', 'get'] : ['floor', 'split', 'coop']
    if (bus === 'redis') await a.ask({ cmd: 'get-fill', prefix: name } satisfies Command)

    const measure = (subject: Subject, mode: 'latency' | 'pipelined', from: number, n: number) =>
      a.ask<Measured>({ cmd: 'measure', subject, mode, from, n } satisfies Command)

    // Warm-up: every subject once, on keys of its own; the 'again' row asks the warm-up keys again.
    trace(`cluster ${bus}: warm-up`)
    for (const subject of subjects) {
      await measure(subject, 'latency', 0, sizes.warmLatency)
      await measure(subject, 'pipelined', sizes.warmLatency, sizes.warmPipelined)
    }
    const hit = Object.fromEntries((['floor', 'split', 'coop', 'again', 'get'] as const).map((s) => [s, { latency: new Rounds(), pipelined: new Rounds() }])) as NonNullable<BusResult['hit']>
    for (let r = 0; r < options.rounds; r++) {
      trace(`cluster ${bus}: hits, round ${r + 1}`)
      const base = warm + r * (sizes.latencyCalls + sizes.pipelinedCalls)
      const order = [...subjects.slice(r % subjects.length), ...subjects.slice(0, r % subjects.length)]
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
    const tally = await a.ask<Tally>({ cmd: 'tally' } satisfies Command)

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
    const entries = (await Promise.all(peers.map((peer) => peer.ask<Tally>({ cmd: 'tally' } satisfies Command)))).map((t) => t.entries)
    const resets: { b: number; c: number; resolved: number }[] = []
    let missedResets = 0
    for (let i = 0; i < sizes.resets; i++) {
      const version = `${bus}-${i + 1}`
      const [done, atB, atC] = await Promise.all([
        a.ask<{ t0: string; t1: string }>({ cmd: 'reset', version } satisfies Command),
        b.ask<string | null>({ cmd: 'heard', version } satisfies Command),
        c.ask<string | null>({ cmd: 'heard', version } satisfies Command),
      ])
      const t0 = BigInt(done.t0)
      const ms = (at: string | null) => (at === null ? Number.NaN : Number(BigInt(at) - t0) / 1e6)
      if (atB === null || atC === null) missedResets++
      resets.push({ b: ms(atB), c: ms(atC), resolved: Number(BigInt(done.t1) - t0) / 1e6 })
      // Let a heartbeat or two pass now and then, as resets are spread out in real use.
      await sleep(20)
    }
    return { bus, hit, stampede, lock, resets, missedResets, tally, entries }
  } finally {
    await Promise.all(peers.map((peer) => peer.ask({ cmd: 'close' } satisfies Command)))
  }
}

async function stampedeRound(peers: Peer[], subject: 'coop' | 'lock', prefix: string, sizes: Sizes): Promise<StampedeRound> {
  await Promise.all(peers.map((peer) => peer.ask({ cmd: 'stampede-set', subject, prefix, keys: sizes.stampedeKeys, callers: sizes.stampedeCallers } satisfies Command)))
  // The three 'go's leave here one after the other, within microseconds.
  const dones = await Promise.all(peers.map((peer) => peer.ask<StampedeDone>({ cmd: 'stampede-go' } satisfies Command)))
  const sum = (f: (d: StampedeDone) => number) => dones.reduce((s, d) => s + f(d), 0)
  return {
    computations: sum((d) => d.computations),
    perProcess: dones.map((d) => d.computations),
    wallMs: Math.max(...dones.map((d) => d.ms)),
    wrong: sum((d) => d.wrong),
    errors: dones.flatMap((d) => d.errors),
    commands: sum((d) => d.commands),
    rechecks: sum((d) => d.rechecks),
  }
}

// ---------------------------------------------------------------------------------------------
// The section

function report(results: BusResult[], sizes: Sizes, options: Options, run: { startedAt: Date; load: number[] }): Section {
  const ran = results.filter((r) => r.skipped === undefined)
  const figures: Record<string, number> = { keys: sizes.stampedeKeys, computeMs: COMPUTE_MS, inFlight: IN_FLIGHT }
  const out: string[] = []
  const cpu = cpus()
  out.push(
    `Run on ${cpu[0]?.model.trim() ?? 'unknown'} (${cpu.length} cores), Node ${process.version}, ${run.startedAt.toISOString()}, load average at the start of this scenario ${run.load.map((x) => x.toFixed(2)).join(', ')}. ` +
      `Three peer processes A, B, C forked by the scenario (which is the ipcBus hub, as a node:cluster primary is), each with a cache of one owner thread (\`threads: 1\`) and \`nearLimit: 0\`, on one bus at a time: ${BUSES.map((b) => BUS_LABEL[b]).join(', ')}; NATS at ${NATS_URL}, Redis at ${REDIS_URL}, both on this machine. ${options.rounds} rounds of every measurement, subjects interleaved, medians over rounds.`,
  )
  for (const r of results) if (r.skipped !== undefined) out.push(`**${BUS_LABEL[r.bus]} was left out:** its broker is not reachable (${r.skipped}).`)

  // ---- remote hit ----
  out.push(
    '',
    '### A remote hit, beside the bus round trip',
    '',
    `A asks for keys that B owns and has stored (values \`{ id, name, tags }\`, ${valueSize} bytes serialized), each key once: ${sizes.latencyCalls.toLocaleString('en-US')} calls one at a time per round (p50, p99, and calls/s as 1 / mean), and ${sizes.pipelinedCalls.toLocaleString('en-US')} calls with ${IN_FLIGHT} in flight. The path of such a call: A's caller → A's owner thread → A's main thread (the peer agent) → the bus → B's agent → B's owner thread, and the same way back; over ipc, each bus leg also passes through the hub (this process). The floor is the bus alone between the same two main threads: a 16-byte ping that B's member sends straight back (\`BusMember.send\`). Anatomy rows: the floor with every ping and pong sent from an event-loop task of its own ("split"), as the agent sends each message on its own, when an owner thread's message arrives — a client that writes what was published within one task in one socket write (NATS) loses that batching; and "again": A asking a key it has fetched before, which A's owner kept (values from another process are kept, and counted in this process's memoryLimit, near copies or not), so that call never leaves A. The Redis GET row is a plain cache-aside hit from A: \`GET\` and \`JSON.parse\` on ${GET_KEYS} stored keys, over one ioredis connection.`,
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
    put('Unexpected', r.tally!.unexpected)
    put('Dropped', r.tally!.dropped)
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
  const unexpected = ran.map((r) => r.tally!.unexpected).reduce((s, n) => s + n, 0)
  out.push('', `Sanity: computations in A where every call should have been a hit: ${unexpected}; bus messages A refused (\`stats().dropped\`): ${ran.map((r) => `${r.bus} ${r.tally!.dropped}`).join(', ')}.`)

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
    `${sizes.resets} resets one after another (20 ms apart), each called in A; the time from A's \`reset()\` call to \`onReset\` being called in B and in C, read on the machine's monotonic clock (\`process.hrtime\`, one clock for every process here), and to A's \`reset()\` resolving (which waits for its owner to drop the old entries and for every live peer's acknowledgement). The first reset of each bus drops the entries the measurements above stored, and is shown apart; p50 / p99 are over the other ${sizes.resets - 1} (with so few, p99 is the slowest).`,
    '',
  )
  const rrows: string[][] = []
  const msf = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)} ms` : 'n/a')
  for (const r of ran) {
    // The first reset drops what the hit measurements stored; the others find little to drop.
    const [first, ...rest] = r.resets!
    const q = (f: (x: { b: number; c: number; resolved: number }) => number) => {
      const sorted = Float64Array.from(rest.map(f)).sort()
      return [quantile(sorted, 0.5), quantile(sorted, 0.99)] as const
    }
    const [bP50, bP99] = q((x) => x.b)
    const [cP50, cP99] = q((x) => x.c)
    const [allP50, allP99] = q((x) => Math.max(x.b, x.c))
    const [resP50, resP99] = q((x) => x.resolved)
    const e = r.entries ?? []
    rrows.push([
      BUS_LABEL[r.bus],
      `${msf(bP50)} / ${msf(bP99)}`,
      `${msf(cP50)} / ${msf(cP99)}`,
      `**${msf(allP50)} / ${msf(allP99)}**`,
      `${msf(resP50)} / ${msf(resP99)}`,
      first === undefined ? 'n/a' : `${msf(Math.max(first.b, first.c))}; resolved ${msf(first.resolved)} (${e.map((n) => n.toLocaleString('en-US')).join(' / ')} entries in A / B / C)`,
      String(r.missedResets),
    ])
    figures[`${r.bus}ResetAllP50`] = allP50
    figures[`${r.bus}ResetAllP99`] = allP99
    figures[`${r.bus}ResetResolvedP50`] = resP50
    figures[`${r.bus}ResetResolvedP99`] = resP99
    figures[`${r.bus}FirstResetResolved`] = first?.resolved ?? Number.NaN
    figures[`${r.bus}ResetMissed`] = r.missedResets!
  }
  out.push(table(['bus', 'to onReset in B, p50 / p99', 'in C, p50 / p99', 'in both (the later), p50 / p99', "A's reset() resolved, p50 / p99", 'the first reset: in both; resolved (entries it dropped)', 'resets not heard within 10 s'], rrows))
  out.push('', `The lock baseline has no reset of its own: a user of it deletes the keys (SCAN + DEL) or puts a version in every key, and nothing tells the other processes.`)

  out.push('', '### What these figures say', '', clusterVerdict(figures).join('\n\n'))
  return { title: '7. Across processes: ipc, NATS, Redis', markdown: out.join('\n'), figures }
}

if (isEntry(import.meta.url)) await runAlone(cluster)
