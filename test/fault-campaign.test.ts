// The fault campaign: a cluster of 3 peers (in this process, on a memoryBus wrapped in the chaos
// bus; 2 owner threads and 2 caller threads each), a workload of calls on many keys from every
// thread (fn sleeps a little, and sometimes throws), resets from random peers and threads, and
// all at once:
//
//   the bus       drops, duplicates, delays (so reorders) and replays late what each peer receives
//   a rogue       a member of the topic that sends what fast-check draws (helpers/arbitraries.ts):
//                 garbage, truncated and bit-flipped envelopes, unknown wire versions, replays of
//                 envelopes captured on the bus, and messages of every type, well-formed lies
//                 among them, answering the requests it overhears as the peer they were sent to
//   threads       caller threads terminated at random points, inside reset() too
//   owners        owner threads crashed (supervisorOf(cache).crash(i))
//
// run without a secret and with one (which the rogue does not have). What must hold on every run:
//
//   the right key    no caller gets another key's value (or error): every value names its key
//   fresh            (with a secret) no value is older than a reset() that resolved before the
//                    call began: every value names the version it was computed under, versions
//                    are increasing integers, one reset at a time, and each call is checked
//                    against the latest reset that resolved, anywhere, before it was made
//   nobody hangs     every call and every reset settles, with a value, fn's own error or a
//                    CacheError with a code, within peerTimeout + computeTimeout + a margin
//   nothing breaks   no thread exits but those the campaign ends, no owner restarts but those
//                    it crashes, no receive callback throws, no promise is left unhandled
//   no forgery       (with a secret) the rogue changes nothing: no version it sent is taken, no
//                    value it sent is returned, no phantom member is seen, and what it sends is
//                    counted in `dropped`
//   once again       after the faults stop and one reset, each key is computed exactly once in
//                    the cluster
//
// Without a secret the rogue can lie (reset to versions of its choosing, answer with values of its
// choosing, pose as a member), so there only what must hold even then is checked: the right key,
// nobody hangs, nothing breaks, and the cluster recovers once the rogue stops and one reset is
// made. (A rogue never passes one key's real value off as another's: that lie no check could
// tell from a mix-up, and only the secret stops it.)
//
// The bus faults are moderate on purpose: the staleness bound (DESIGN.md, guarantee 7) assumes
// the bus delivers within about peerTimeout. A first delivery is late by at most 120 ms, and a
// peer misses all of another's beats for a whole peerTimeout (20 heartbeats) with a probability
// of 0.08^20. Past that, a peer is rightly taken for gone or cut off, and a cut-off peer computes
// uncached under the version it knows (partition: 'compute'), which this campaign would count as
// stale. Late replays come 0.8–1.5 s later, past the timeout: they are duplicates, which the replay
// window refuses whatever their age.
//
// Seeded: the seed is printed, and COOP_CACHE_SEED=<seed> runs the same draws again (fast-check
// prints its seed and path on failure too). The timing of threads is not seeded, so a rerun is
// the same campaign, not the same interleaving. Process faults (SIGKILL, SIGSTOP, a broker
// killed) are not here: other test files run real processes for those.
import test, { type ExecutionContext } from 'ava'
import fc from 'fast-check'
import { serialize } from 'node:v8'
import { cached, memoryBus, reset } from 'coop-cache'
import { supervisorOf } from '../src/host/registry.js'
import { Members } from '../src/peer/members.js'
import { OwnerState } from '../src/shared/memory/owners.js'
import { Shared } from '../src/shared/memory/shared.js'
import { envelopeBytes, envelopePlan, ROGUE, type EnvelopePlan, type KeyChoice, type World } from './helpers/arbitraries.js'
import { outcome, type FnSpec, type Outcome } from './helpers/board.js'
import { CallerThread, callerThreads } from './helpers/callers.js'
import { chaosBus, seededRandom, type ChaosBus, type ChaosRule } from './helpers/chaos-bus.js'
import { sleep, within } from './helpers/cluster.js'
import { peers, type Member } from './helpers/pair.js'
import { Rogue } from './helpers/rogue.js'

const HEARTBEAT = 50
const PEER_TIMEOUT = 1000
const COMPUTE_TIMEOUT = 400
/**
 * How long past peerTimeout + computeTimeout a call may take before it counts as hung: a call can
 * meet more than one loss (a put lost, so the owner waits out the lease, then the next computer's
 * answer lost too), a call under way across a run of resets is asked again after each, and
 * 2 cores are shared with the other test files. 2500 ms, then 3500 ms, were not enough in full
 * suites on this machine: calls made while a peer's owners crashed several times and resets
 * came every few hundred ms took 4.0-4.45 s (Node 24) and 5.1-6.6 s (Node 22), with the creating
 * thread shared by all three peers and the test here; they all ended, none hung. Runs of the
 * campaign alone, under two CPU hogs, took at most 1.2-3.0 s for their longest call, before and
 * after the session's changes alike.
 */
const MARGIN = 6000
const BOUND = PEER_TIMEOUT + COMPUTE_TIMEOUT + MARGIN
/**
 * Without a secret the rogue can pose as members (under its own id and ids it makes up: four at
 * most, see arbitraries.ts) that beat and never answer: each that owns a key costs a call for it
 * up to a peerTimeout before the asker computes itself. Slow, but not a hang: that is the bound.
 */
const BOUND_LIED_TO = 5 * PEER_TIMEOUT + COMPUTE_TIMEOUT + MARGIN
/**
 * How long the cluster has to come together again once the rogue stops: its members are counted
 * out after their own peer timeouts, which a lying one says is as long as a peer honours.
 */
const RECOVERY = Members.bound({ heartbeat: HEARTBEAT, peerTimeout: PEER_TIMEOUT }) + 2 * PEER_TIMEOUT
const PEERS = 3
const OWNERS = 2
const CALLERS = 2
const KEYS = 40
/** How long the faults last in each run. */
const FAULTS_MS = 3500
const STEPS = 220
const FORGERIES = 150
const RUNS = Number(process.env.COOP_CACHE_RUNS ?? 2)
const SEED = process.env.COOP_CACHE_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.COOP_CACHE_SEED)

const SECRET = 'the cluster’s secret: 32 bytes ok'
const WRONG = new TextEncoder().encode('the rogue’s own key, not the cluster’s')
const keyOf = (n: number) => `k${n % KEYS}`
const MAIN = CALLERS // the thread index of a peer's creating thread

// ---- what a run does, drawn by fast-check ----

type Step =
  | { readonly op: 'call'; readonly gap: number; readonly peer: number; readonly thread: number; readonly key: number; readonly count: number; readonly delay: number; readonly throws: boolean }
  | { readonly op: 'reset'; readonly gap: number; readonly peer: number; readonly thread: number; readonly terminateAfter: number | null }
  | { readonly op: 'terminate'; readonly gap: number; readonly peer: number; readonly thread: number; readonly after: number }
  /**
   * crashes an owner of `peer` `after` ms after `peer` started computing `keys` (slowly) and the
   * other peers asked for them: some of their requests wait in a flight of that owner
   */
  | { readonly op: 'crash'; readonly gap: number; readonly peer: number; readonly owner: number; readonly keys: readonly number[]; readonly after: number }

interface Scenario {
  readonly busSeed: number
  readonly chaos: ChaosRule
  readonly steps: readonly Step[]
  readonly forgeries: readonly EnvelopePlan[]
}

const gap = fc.integer({ min: 0, max: Math.round((2 * FAULTS_MS) / STEPS) })
const peer = fc.nat({ max: PEERS - 1 })
const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('call' as const), gap, peer, thread: fc.nat({ max: MAIN }), key: fc.nat({ max: KEYS - 1 }), count: fc.integer({ min: 1, max: 3 }), delay: fc.nat({ max: 20 }), throws: fc.nat({ max: 9 }).map((n) => n === 0) }), weight: 85 },
  { arbitrary: fc.record({ op: fc.constant('reset' as const), gap, peer, thread: fc.nat({ max: MAIN }), terminateAfter: fc.option(fc.nat({ max: 5 }), { freq: 3 }) }), weight: 8 },
  { arbitrary: fc.record({ op: fc.constant('terminate' as const), gap, peer, thread: fc.nat({ max: CALLERS - 1 }), after: fc.nat({ max: 30 }) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('crash' as const), gap, peer, owner: fc.nat({ max: OWNERS - 1 }), keys: fc.array(fc.nat({ max: KEYS - 1 }), { minLength: 3, maxLength: 3 }), after: fc.integer({ min: 20, max: 150 }) }), weight: 2 },
)
/** A probability from `least` to `most`, drawn evenly (fast-check would favour the ends). */
const rate = (least: number, most: number) => fc.integer({ min: Math.round(least * 1000), max: Math.round(most * 1000) }).map((n) => n / 1000)
// noBias: with a few runs, fast-check's bias towards small values would make most of them fault-free
const scenario = (keys: readonly KeyChoice[]): fc.Arbitrary<Scenario> =>
  fc.noBias(fc.record({
    busSeed: fc.integer(),
    chaos: fc.record({
      drop: rate(0.02, 0.08),
      duplicate: rate(0.02, 0.1),
      delay: fc.integer({ min: 20, max: 120 }),
      replay: rate(0.01, 0.05),
      replayAfter: fc.constant([800, 1500] as const),
    }),
    steps: fc.array(step, { minLength: STEPS, maxLength: STEPS }),
    forgeries: fc.array(envelopePlan({ weights: { good: 8, edge: 1, bad: 1 }, flawed: 0.3, keys }), { minLength: FORGERIES, maxLength: FORGERIES }),
  }))

// ---- one run ----

/** A call of the workload: `count` concurrent cached() calls for `key` in one thread. */
interface Call {
  readonly peer: number
  readonly thread: number
  readonly key: string
  readonly startedAt: number
  /** the version of the latest reset that resolved, anywhere, before the call was made */
  readonly required: number
  endedAt?: number
  outcomes?: readonly Outcome[]
  /** its thread was terminated by the campaign before it settled */
  lost?: boolean
}

interface ResetMade {
  readonly version: number
  readonly where: string
  readonly startedAt: number
  resolvedAt?: number
  failed?: string
}

/** A caller thread of a peer, replaced when the campaign terminates it. */
interface Slot {
  thread: CallerThread | undefined
  /** the threads the campaign terminated (their exit is expected) */
  readonly ended: Set<CallerThread>
}

const HONEST = /^(k\d+)@(.*)#\d+\.\d+$/

class Run {
  readonly violations: string[] = []
  readonly calls: Call[] = []
  readonly resets: ResetMade[] = []
  readonly secret: boolean
  readonly bound: number
  longest = 0
  readonly counts = { values: 0, fnErrors: 0, rogueValues: 0, rogueErrors: 0, lost: 0, codes: new Map<string, number>() }
  /** what the campaign did, and when: to tell what a slow call met */
  readonly events: { readonly at: number; readonly what: string }[] = []
  lastVersion = 0
  resetting: Promise<void> | undefined
  crashes: number[] = Array(PEERS).fill(0)

  constructor(secret: boolean) {
    this.secret = secret
    this.bound = secret ? BOUND : BOUND_LIED_TO
  }

  violation(what: string): void {
    if (this.violations.length < 30) this.violations.push(what)
  }

  /** The version every call made now must at least be computed under. */
  required(): number {
    let latest = 0
    for (const r of this.resets) if (r.resolvedAt !== undefined && r.version > latest) latest = r.version
    return latest
  }

  /** Checks the outcomes of a call against every invariant about values and errors. */
  judge(call: Call): void {
    const where = `a call for ${call.key} on peer ${call.peer} thread ${call.thread}`
    if (call.lost === true) return void this.counts.lost++
    const took = (call.endedAt as number) - call.startedAt
    this.longest = Math.max(this.longest, took)
    if (took > this.bound) {
      const met = this.events.filter((e) => e.at >= call.startedAt - 200 && e.at <= (call.endedAt as number)).map((e) => `${e.what} at +${e.at - call.startedAt}`)
      this.violation(`${where} took ${took} ms, more than ${this.bound} ms (${this.secret ? '' : '5 × '}peerTimeout + computeTimeout + ${MARGIN} ms); meanwhile: ${met.join(', ') || 'nothing'}`)
    }
    for (const o of call.outcomes ?? []) {
      if (o.ok) {
        const honest = typeof o.value === 'string' ? HONEST.exec(o.value) : null
        if (honest === null) {
          if (this.secret) this.violation(`${where} got ${show(o.value)}, which no computation of the campaign made: a forgery got through`)
          else this.counts.rogueValues++
          continue
        }
        this.counts.values++
        if (honest[1] !== call.key) this.violation(`${where} got ${show(o.value)}: another key's value`)
        if (!this.secret) continue
        const version = Number(honest[2])
        if (!Number.isSafeInteger(version)) this.violation(`${where} got ${show(o.value)}, computed under a version no reset of the campaign made`)
        else if (version < call.required) this.violation(`${where} got ${show(o.value)}, though reset(${call.required}) had resolved before the call was made`)
        continue
      }
      const fnError = /^fn failed for (k\d+)$/.exec(o.message)
      if (fnError !== null && o.name === 'RangeError') {
        this.counts.fnErrors++
        if (fnError[1] !== call.key) this.violation(`${where} got fn's error for ${fnError[1]}: another key's error`)
      } else if (o.code !== undefined && /^ERR_COOP_CACHE_[A-Z_]+$/.test(o.code) && !o.message.includes(ROGUE)) {
        this.counts.codes.set(o.code, (this.counts.codes.get(o.code) ?? 0) + 1)
        if (o.code === 'ERR_COOP_CACHE_CLOSED' || o.code === 'ERR_COOP_CACHE_OWNER_UNAVAILABLE') this.violation(`${where} failed with ${o.code} though nothing was closed or given up: ${o.message}`)
      } else if (this.secret) this.violation(`${where} failed with ${o.name} ${o.code ?? ''} ${o.message.slice(0, 120)}: neither fn's own error nor a CacheError of the library's`)
      else this.counts.rogueErrors++
    }
  }
}

const show = (value: unknown) => {
  try {
    return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))?.slice(0, 80) ?? String(value)
  } catch {
    return String(value)
  }
}

interface Stage {
  /** the run is over: a caller thread that comes online now takes no slot */
  over: boolean
  /** the caller threads started to replace terminated ones */
  readonly started: CallerThread[]
  readonly members: Member[]
  readonly slots: Slot[][]
  readonly chaos: ChaosBus
  readonly name: string
}

/** Makes `count` calls for `key` in thread `thread` of peer `p`, recorded in `run`. */
function call(run: Run, stage: Stage, p: number, thread: number, key: string, count: number, spec: FnSpec): Promise<void> {
  const member = stage.members[p] as Member
  const slot = stage.slots[p]?.[thread]
  const record: Call = { peer: p, thread, key, startedAt: Date.now(), required: run.required() }
  run.calls.push(record)
  const done = (outcomes: readonly Outcome[]) => {
    record.endedAt = Date.now()
    record.outcomes = outcomes
  }
  const caller = slot?.thread
  if (caller === undefined) {
    // the creating thread (or a caller thread's slot while its replacement starts)
    return Promise.all(Array.from({ length: count }, () => outcome(cached(member.cache, key, member.board.fn(spec))))).then(done)
  }
  return caller.cached(key, spec, count).done.then(done, (error: Error) => {
    if (slot?.ended.has(caller) === true) record.lost = true
    else {
      run.violation(`caller thread ${thread} of peer ${p} ended without the campaign ending it: ${error.message}`)
      done([])
    }
  })
}

/** Terminates caller thread `thread` of peer `p` after `after` ms, and starts another in its place. */
async function terminate(stage: Stage, p: number, thread: number, after: number): Promise<void> {
  const slot = stage.slots[p]?.[thread]
  const caller = slot?.thread
  if (slot === undefined || caller === undefined) return
  await sleep(after)
  slot.ended.add(caller)
  slot.thread = undefined
  await caller.end()
  const member = stage.members[p] as Member
  // Every thread the run starts is on its list, and ended with the run, whether or not it has
  // come online or taken its slot by then: one left over would keep the test's process alive.
  const next = new CallerThread(member.cache, member.board)
  stage.started.push(next)
  await new Promise((resolve) => next.worker.once('online', resolve).once('exit', resolve))
  if (!stage.over) slot.thread = next
}

/** One reset, from thread `thread` of peer `p`; terminated after `terminateAfter` ms when that is set, and then made again by the peer's creating thread. */
async function resetFrom(run: Run, stage: Stage, p: number, thread: number, terminateAfter: number | null): Promise<void> {
  const version = ++run.lastVersion
  const member = stage.members[p] as Member
  const caller = stage.slots[p]?.[thread]?.thread
  const made: ResetMade = { version, where: `peer ${p} thread ${caller === undefined ? 'main' : thread}${terminateAfter === null ? '' : `, terminated after ${terminateAfter} ms`}`, startedAt: Date.now() }
  run.resets.push(made)
  run.events.push({ at: made.startedAt, what: `reset(${version}) from ${made.where}` })
  const finish = (o: Outcome) => {
    if (o.ok) made.resolvedAt = Date.now()
    else made.failed = `${o.name}: ${o.message}`
  }
  if (caller === undefined) return finish(await outcome(reset(member.cache, version)))
  const inThread = caller.reset(version).catch(() => undefined)
  if (terminateAfter !== null) await terminate(stage, p, thread, terminateAfter)
  const result = await inThread
  if (result !== undefined) return finish(result)
  // The thread ended inside reset(): the reset was asked for, or not. Either way the creating
  // thread makes it now (a no-op if it was), so that one reset is made at a time and versions
  // stay ordered as they are made.
  finish(await outcome(reset(member.cache, version)))
}

/** How many times each of a peer's owners has started. */
const starts = (member: Member) => {
  const owners = Shared.of(member.cache.handle.shared).owners
  return Array.from({ length: owners.count }, (_, i) => owners.generation(i))
}

/** Polls until `check` holds, for at most `ms`; false if it never did. */
async function until(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) return false
    await sleep(20)
  }
  return true
}

/** Every peer's own stats; a peer that cannot say within 2 s fails the run rather than hang it. */
const localStats = (members: readonly Member[]) => within(Promise.all(members.map((m) => m.cache.stats({ local: true }))), 2000, 'the peers’ stats')

/** One run of the campaign: faults, then checks. Resolves with what it saw; violations in run.violations. */
async function campaignRun(t: ExecutionContext, s: Scenario, secret: boolean): Promise<Run> {
  const run = new Run(secret)
  const warnings: string[] = []
  const onWarning = (w: Error & { code?: string }) => {
    // Without a secret, the rogue's hellos and beats say what timing they like, and are believed;
    // its envelopes of other wire versions and keys look like a split cluster's.
    const expected = w.code === 'COOP_CACHE_NO_SECRET' || w.code === 'COOP_CACHE_SPLIT' || (!secret && w.code === 'COOP_CACHE_PEER_TIMING')
    if (w.code?.startsWith('COOP_CACHE_') === true && !expected) warnings.push(`${w.code}: ${w.message.slice(0, 300)}`)
  }
  process.on('warning', onWarning)
  const phases: string[] = []
  let phase = Date.now()
  const lap = (name: string) => {
    phases.push(`${name} ${Date.now() - phase} ms`)
    phase = Date.now()
  }
  const inner = memoryBus()
  const chaos = chaosBus(inner, { random: seededRandom(s.busSeed) })
  const cluster = await peers(t, 'campaign', PEERS, { bus: chaos, threads: OWNERS, computeTimeout: COMPUTE_TIMEOUT, memoryLimit: 1024 * 1024, ...(secret ? { secret: SECRET } : {}) })
  const members = cluster.members
  const ids = members.map((m) => m.cache.peer as string)
  const slots: Slot[][] = await Promise.all(members.map(async (m) => (await callerThreads(m.cache, m.board, CALLERS)).map((thread) => ({ thread, ended: new Set<CallerThread>() }))))
  const stage: Stage = { over: false, started: [], members, slots, chaos, name: cluster.name }
  const baseline = members.map(starts)
  const crashed = members.map(() => Array(OWNERS).fill(0) as number[])
  try {
    // the rogue: one member that speaks, one that listens as peer 0, and taps that keep envelopes as they were
    const speaker = await Rogue.join(inner, cluster.name, secret ? { secret: [WRONG] } : {})
    const ear = await Rogue.join(inner, cluster.name, { id: ids[0] })
    const captured: Uint8Array[] = []
    const taps = await Promise.all(ids.map((id) => inner.join(cluster.name, id, (bytes) => void captured.push(bytes))))
    let q = 0
    const world: World = {
      name: cluster.name,
      self: speaker.id,
      peers: () => ids,
      keys: Array.from({ length: KEYS }, (_, i) => keyOf(i)),
      heard: () => [...speaker.heard, ...ear.heard],
      captured: () => captured.slice(-400),
      next: () => ++q,
      secrets: { own: secret ? [WRONG] : [] },
    }

    lap('setup')

    // ---- the faults ----
    chaos.faults(s.chaos)
    const started = Date.now()
    let forged = 0
    const rogue = (async () => {
      for (const [i, plan] of s.forgeries.entries()) {
        await sleep(started + ((i + 1) * FAULTS_MS) / FORGERIES - Date.now())
        const sent = envelopeBytes(plan, world)
        if (sent === undefined) continue
        forged++
        speaker.raw(sent.bytes, sent.to === '' ? undefined : sent.to)
      }
    })()
    let phantoms = 0
    const watching = { on: true }
    const watch = (async () => {
      while (watching.on) {
        const seen = (await localStats(members)).map((x) => x.peers)
        if (seen.some((n) => n > PEERS)) phantoms++
        await sleep(100)
      }
    })().catch((error: Error) => run.violation(error.message))
    const tasks: Promise<unknown>[] = []
    // each step at its time, whatever the ones before cost: the gaps, scaled to FAULTS_MS
    const scale = FAULTS_MS / s.steps.reduce((sum, st) => sum + st.gap, 1)
    let at = started
    for (const st of s.steps) {
      at += st.gap * scale
      await sleep(at - Date.now())
      switch (st.op) {
        case 'call': {
          const key = keyOf(st.key)
          tasks.push(call(run, stage, st.peer, st.thread, key, st.count, { value: key, withVersion: true, tag: true, delay: st.delay, ...(st.throws ? { throws: `fn failed for ${key}` } : {}) }))
          break
        }
        case 'reset':
          if (run.resetting === undefined) tasks.push((run.resetting = resetFrom(run, stage, st.peer, st.thread, st.terminateAfter).finally(() => (run.resetting = undefined))))
          break
        case 'terminate':
          run.events.push({ at: Date.now() + st.after, what: `caller thread ${st.thread} of peer ${st.peer} terminated` })
          tasks.push(terminate(stage, st.peer, st.thread, st.after))
          break
        case 'crash': {
          // at most 2 crashes per owner: supervision gives up on an owner after 5 in 10 s
          const counts = crashed[st.peer] as number[]
          if ((counts[st.owner] as number) >= 2) break
          counts[st.owner] = (counts[st.owner] as number) + 1
          for (const [i, k] of st.keys.entries()) {
            const key = keyOf(k)
            tasks.push(call(run, stage, st.peer, MAIN, key, 1, { value: key, withVersion: true, tag: true, delay: 200 }))
            for (let other = 1; other < PEERS; other++) tasks.push(call(run, stage, (st.peer + other) % PEERS, i % (CALLERS + 1), key, 1, { value: key, withVersion: true, tag: true, delay: 10 }))
          }
          const supervisor = supervisorOf((members[st.peer] as Member).cache) as NonNullable<ReturnType<typeof supervisorOf>>
          tasks.push(sleep(st.after).then(() => {
            run.events.push({ at: Date.now(), what: `owner ${st.owner} of peer ${st.peer} crashed` })
            return supervisor.crash(st.owner)
          }))
          break
        }
      }
    }
    await rogue
    lap('faults')

    // ---- every call and reset settles ----
    const lastStart = Math.max(...run.calls.map((c) => c.startedAt))
    await within(Promise.all(tasks), Math.max(0, lastStart + run.bound + 1000 - Date.now()), 'the workload').catch(() => {})
    for (const c of run.calls) {
      if (c.endedAt === undefined && c.lost !== true) run.violation(`a call for ${c.key} on peer ${c.peer} thread ${c.thread}, made ${c.startedAt - started} ms into the faults, did not settle within ${run.bound} ms`)
      else run.judge(c)
    }
    for (const r of run.resets) {
      if (r.resolvedAt === undefined && r.failed === undefined) run.violation(`reset(${r.version}) from ${r.where} did not settle`)
      else if (r.failed !== undefined && secret) run.violation(`reset(${r.version}) from ${r.where} failed: ${r.failed}`)
      else if (r.resolvedAt !== undefined && !r.where.includes('terminated') && r.resolvedAt - r.startedAt > run.bound) run.violation(`reset(${r.version}) from ${r.where} took ${r.resolvedAt - r.startedAt} ms`)
    }
    watching.on = false
    await watch
    lap('settling')
    if (secret && phantoms > 0) run.violation(`a peer saw more than ${PEERS} members ${phantoms} times: the rogue was taken for one`)

    // ---- the faults stop ----
    chaos.faults()
    await Promise.all([speaker.leave(), ear.leave()])
    // late replays still come meanwhile; a phantom member the rogue posed as is gone after peerTimeout
    let seen: number[] = []
    const [quiet, settled] = await Promise.all([chaos.quiet(5000), until(async () => (seen = (await localStats(members)).map((x) => x.peers)).every((n) => n === PEERS), RECOVERY)])
    if (!quiet) run.violation('the chaos bus still held messages back 5 s after the faults stopped')
    if (!settled) run.violation(`the cluster did not come together again after the rogue left: the peers see ${seen.join(', ')} members`)
    lap('recovery')

    // ---- replays and forgeries are counted in dropped ----
    const from = captured.length
    await sleep(3 * HEARTBEAT)
    const fresh = captured.slice(from, from + 10)
    const dropped = (await localStats(members)).map((x) => x.dropped)
    const replayer = await inner.join(cluster.name, 'replayer', () => {})
    for (const bytes of fresh) replayer.broadcast(bytes)
    let forgeries = 0
    if (secret) {
      // well-formed messages, signed with a key the cluster does not have, or not at all
      const lies = [{ t: 'reset', s: { clock: 1e6, origin: ROGUE, born: 0 }, v: serialize(`${ROGUE}-version`) }, { t: 'beat', s: { clock: 1, origin: ROGUE, born: 0 }, v: serialize(ROGUE), n: Array(14).fill(0), host: ROGUE, pid: 1, hb: HEARTBEAT, pto: PEER_TIMEOUT }, { t: 'hello', hb: HEARTBEAT, pto: PEER_TIMEOUT }]
      for (const key of ['own', 'unsigned'] as const) {
        for (const lie of lies) {
          const plan: EnvelopePlan = { kind: 'sealed', key, message: { t: lie.t as 'hello', fields: { ...lie, c: cluster.name, f: ROGUE, q: ++q, ts: Date.now(), to: '' }, flaw: { kind: 'none' } } }
          replayer.broadcast((envelopeBytes(plan, world) as { bytes: Uint8Array }).bytes)
          forgeries++
        }
      }
    }
    await sleep(3 * HEARTBEAT)
    await replayer.leave()
    const after = (await localStats(members)).map((x) => x.dropped)
    const counted = after.map((n, i) => n - (dropped[i] as number))
    if (!counted.every((n) => n === fresh.length + forgeries)) run.violation(`${fresh.length} replayed envelopes and ${forgeries} forgeries were counted in dropped as ${counted.join(', ')} by the peers`)

    // ---- once again: one reset, and each key computed exactly once ----
    const computed = () => members.reduce((sum, m) => sum + m.board.computed, 0)
    const before = computed()
    const final = ++run.lastVersion
    const resetOutcome = await within(outcome(reset((members[0] as Member).cache, final)), BOUND, 'the final reset').catch((error: Error) => ({ ok: false, name: 'Error', message: error.message }) as Outcome)
    if (!resetOutcome.ok) run.violation(`the reset after the faults failed: ${resetOutcome.name}: ${resetOutcome.message}`)
    const versions = members.map((m) => m.cache.version)
    if (!versions.every((v) => v === final)) run.violation(`after reset(${final}) the peers are on versions ${versions.map(show).join(', ')}`)
    const finalCalls: Promise<void>[] = []
    for (const [p, m] of members.entries()) {
      for (let thread = 0; thread <= CALLERS; thread++) {
        for (let k = 0; k < KEYS; k++) {
          const key = keyOf(k)
          const spec: FnSpec = { value: key, withVersion: true, tag: true }
          finalCalls.push(
            (async () => {
              const caller = (slots[p] as Slot[])[thread]?.thread
              const outcomes = caller === undefined ? [await outcome(cached(m.cache, key, m.board.fn(spec)))] : await caller.cached(key, spec).done
              for (const o of outcomes) if (!o.ok || typeof o.value !== 'string' || !o.value.startsWith(`${key}@${final}#`)) run.violation(`after the faults, a call for ${key} on peer ${p} got ${o.ok ? show(o.value) : `${o.name}: ${o.message}`}`)
            })(),
          )
        }
      }
    }
    await within(Promise.all(finalCalls), BOUND, 'the calls after the faults').catch((error: Error) => run.violation(error.message))
    if (computed() - before !== KEYS) run.violation(`after the faults and one reset, ${KEYS} keys were computed ${computed() - before} times in the cluster`)
    lap('once again')

    // ---- nothing else broke ----
    for (const [p, m] of members.entries()) {
      // a crash that hits an owner still starting after the last one costs one start, not two
      const owners = Shared.of(m.cache.handle.shared).owners
      for (let o = 0; o < OWNERS; o++) {
        const restarts = owners.generation(o) - ((baseline[p] as number[])[o] as number)
        const crashes = (crashed[p] as number[])[o] as number
        if (restarts > crashes || (crashes > 0 && restarts === 0) || owners.state(o) !== OwnerState.Running) run.violation(`owner ${o} of peer ${p} started ${restarts} times more though the campaign crashed it ${crashes} times, and is in state ${owners.state(o)}`)
      }
    }
    if (secret) {
      for (const [p, m] of members.entries()) {
        const taken = m.resets as unknown[]
        const ordered = taken.every((v, i) => Number.isSafeInteger(v) && (v as number) <= final && (i === 0 || (v as number) > (taken[i - 1] as number)))
        if (!ordered) run.violation(`peer ${p} went through versions ${taken.map(show).join(', ')}: not only the campaign's, in the order they were made`)
      }
    }
    for (const w of warnings) run.violation(`a warning: ${w}`)
    await Promise.all(taps.map((tap) => tap.leave()))
    const chaosCounts = chaos.counts
    const stats = await localStats(members)
    t.log(
       `${secret ? 'with a secret' : 'without a secret'}: ${phases.join(', ')}; ${run.calls.length} calls (${run.counts.values} values, ${run.counts.fnErrors} fn errors, ${[...run.counts.codes].map(([c, n]) => `${n} ${c}`).join(', ') || 'no CacheError'}, ` +
        `${run.counts.lost} lost with their thread, the longest took ${run.longest} ms; ${run.counts.rogueValues} forged values and ${run.counts.rogueErrors} forged errors returned); ${run.resets.length} resets; ` +
        `${crashed.flat().reduce((a, b) => a + b, 0)} owner crashes; ${slots.flat().reduce((n, slot) => n + slot.ended.size, 0)} caller threads terminated; ${forged} forgeries; ` +
        `bus: ${chaosCounts.dropped} dropped, ${chaosCounts.duplicated} duplicated, ${chaosCounts.delayed} delayed, ${chaosCounts.replayed} replayed late of ${chaosCounts.received}; ` +
        `peers counted ${stats.map((x) => x.dropped).join(', ')} dropped`,
    )
    return run
  } finally {
    process.off('warning', onWarning)
    stage.over = true
    await within(Promise.all([...slots.flat().map((slot) => slot.thread?.end()), ...stage.started.map((thread) => thread.end())]), 10_000, 'caller threads to end').catch((error: Error) => run.violation(error.message))
    await Promise.all(members.map((m, p) => within(m.cache.close(), 10_000, `peer ${p} to close`).catch((error: Error) => run.violation(error.message))))
  }
}

/** The campaign, `RUNS` runs drawn from SEED; fails with the seed and fast-check's path of the first run that breaks an invariant. */
async function campaign(t: ExecutionContext, secret: boolean): Promise<void> {
  t.timeout(RUNS * 30_000)
  t.log(`seed ${SEED} (COOP_CACHE_SEED=${SEED} draws the same campaign again)`)
  const details = await fc.check(
    fc.asyncProperty(scenario(secret ? ['own', 'unsigned'] : ['unsigned']), async (s) => {
      const run = await campaignRun(t, s, secret)
      if (run.violations.length > 0) throw new Error(run.violations.join('\n'))
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  )
  if (details.failed) {
    const error = details.errorInstance as Error | undefined
    t.fail(`run ${details.numRuns} of seed ${SEED} (fast-check path ${JSON.stringify(details.counterexamplePath)}) broke the invariants:\n${error?.message ?? 'no error'}`)
  } else t.pass()
}

test.serial('without a secret, under bus faults, thread and owner crashes and a lying rogue: the right key, nobody hangs, nothing breaks, and the cluster recovers', (t) => campaign(t, false))

test.serial('with a secret, under bus faults, thread and owner crashes and a rogue without it: the rogue changes nothing, and every value is the right key’s, fresh', (t) => campaign(t, true))
