// Guarantee 7: bounded staleness, checked where values are served. A process serves what it
// stored only while it has heard the bus within peerTimeout, and every owner hit and near hit
// checks that bound itself, in whichever thread. So when the thread that created the cache (and
// holds the peer agent) is blocked, or the whole process is stopped, past peerTimeout while a
// peer resets, no call made after that reset resolved is served a stored value of the old
// version: not by a worker thread that goes on running while the agent is deaf, not by any
// thread in its first milliseconds after SIGCONT. Meanwhile misses compute uncached
// (partition: 'compute', the default) or are refused with CachePartitionedError
// (partition: 'reject'), and nothing hangs; once the process has heard the bus again it takes
// the new version and serves again.
//
// Every peer is a real process (fixtures/fault-peer.ts) that logs each call with what it got;
// each value says when it was computed, so the logs alone show what was stored and served.
import test, { type ExecutionContext } from 'ava'
import { cached, reset, type IpcBus } from 'coop-cache'
import { brokerTest, brokerUrl } from './helpers/brokers.js'
import { messagesOf } from './helpers/envelope.js'
import { oneAtATime, sleep, startFaultPeers, type Call, type FaultPeer } from './helpers/fault-peers.js'
import { EXISTED, hung, slower, some, staleAfter } from './helpers/staleness.js'
import { losingBus, losingFirst } from './helpers/losing-bus.js'
import { clockStep, type ClockStep } from './helpers/clock-step.js'
import { peers, type Member } from './helpers/pair.js'

const HEARTBEAT = 100
const PEER_TIMEOUT = 1000
/** how long the process is blocked or stopped: well past peerTimeout */
const FAULT = 2500
/** by when, after the fault ends, the process must be on the new version */
const CATCH_UP = 1000
/** no call may take longer than this (there is no computeTimeout: fn is quick) */
const BOUND = PEER_TIMEOUT + 1500

type Fault = 'block' | 'stop'

const nats = await brokerTest('nats')
const redis = await brokerTest('redis')

const inTurn = oneAtATime()

interface Scenario {
  readonly bus: 'ipc' | 'nats' | 'redis'
  readonly fault: Fault
  readonly partition: 'compute' | 'reject'
  /** how long x is blocked or stopped @default FAULT */
  readonly faultFor?: number
  /** a step of a wall clock: x's, before the fault; or y's (the resetter's), once x is stopped */
  readonly step?: { readonly of: 'x' | 'y'; readonly by: number }
  /** x's and y's own peerTimeout @default PEER_TIMEOUT for both */
  readonly timeouts?: { readonly x: number; readonly y: number }
}

interface Outcome {
  /** every call of the faulty process, all threads */
  readonly calls: Call[]
  /** when the fault began and ended, and when the peer's reset resolved */
  readonly from: number
  readonly thawed: number
  readonly resolved: number
}

/**
 * Two peers; the faulty one (x) loops cached() every ms on a key it owns and a key the other
 * owns, both stored under v1, in a worker thread (and, when it is stopped, in its main thread
 * too: a blocked main thread makes no calls). x is blocked or stopped for `faultFor` ms; 300 ms
 * in, the other peer resets to v2. Then x runs again, catches up, and its logs are read. With
 * `step`, x's wall clock steps before the fault, or y's once x is stopped.
 */
async function stall(t: ExecutionContext, { bus, fault, partition, faultFor = FAULT, step, timeouts = { x: PEER_TIMEOUT, y: PEER_TIMEOUT } }: Scenario): Promise<Outcome> {
  const clock = step === undefined ? undefined : clockStep(t, step.by)
  const cluster = await startFaultPeers(t, {
    bus, url: bus === 'ipc' ? undefined : brokerUrl[bus], size: 2, name: `stall-${fault}`,
    heartbeat: HEARTBEAT, each: (i) => ({ partition: i === 0 ? partition : 'compute', peerTimeout: i === 0 ? timeouts.x : timeouts.y }),
    clock: (i) => (i === (step?.of === 'y' ? 1 : 0) ? clock : undefined),
  })
  const [x, y] = cluster.peers as [FaultPeer, FaultPeer]
  const keys = [...cluster.keysOf(x, 1, 'page-'), ...cluster.keysOf(y, 1, 'page-')]
  for (const key of keys) t.is((await x.do({ op: 'call', key })).value?.version, 'v1')
  await x.do({ op: 'loop', keys, every: 1, main: fault === 'stop', workers: 1 })
  await sleep(200)
  const stepped = (peer: FaultPeer) => (clock as ClockStep).step(async () => (await peer.do({ op: 'state' })).clock)
  // x goes on for a few heartbeats on its stepped clock: it beats, hears itself, and serves.
  if (step?.of === 'x') {
    await stepped(x)
    await sleep(3 * HEARTBEAT)
  }

  let from: number
  if (fault === 'block') from = (await x.do({ op: 'block', ms: faultFor })).from
  else {
    from = Date.now()
    x.signal('SIGSTOP')
  }
  if (step?.of === 'y') await stepped(y)
  await sleep(from + 300 - Date.now())
  // Not awaited here: a reset that waits for x to answer would keep it stopped past faultFor.
  const resetting = y.do({ op: 'reset', version: 'v2' }, 5000)
  await sleep(from + faultFor - Date.now())
  if (fault === 'stop') x.signal('SIGCONT')
  const thawed = Date.now()
  const reset = await resetting
  t.is(reset.error, undefined)
  t.true(reset.end - reset.start <= Math.max(timeouts.x, timeouts.y) + HEARTBEAT + 500, `the reset took ${reset.end - reset.start} ms with a peer ${fault === 'block' ? 'blocked' : 'stopped'}`)
  await sleep(Math.max(thawed, reset.end) + CATCH_UP + 300 - Date.now())

  const logs = await x.do({ op: 'dump' }, 10_000)
  const now = Date.now()
  const calls = [...logs.main, ...logs.workers.flat()]
  t.deepEqual(hung(logs.pending, now, BOUND), [], 'a call hung')
  const slow = slower(calls, BOUND, fault === 'stop' ? [from, thawed] : undefined)
  t.is(slow.length, 0, `calls took longer than ${BOUND} ms${fault === 'stop' ? ', the time stopped aside' : ''}:\n${some(slow, from)}`)
  const stale = staleAfter(calls, reset.end, 'v1')
  t.log(`${x.ended === undefined ? '' : 'the process died; '}${calls.length} calls; ${calls.filter((c) => c.start > reset.end).length} began after the reset resolved (+${reset.end - from} ms), ${calls.filter((c) => c.start > reset.end && c.start < thawed).length} of them while it was still ${fault === 'block' ? 'blocked' : 'stopped'}, ${calls.filter((c) => c.start >= thawed && c.start < thawed + 20).length} in the first 20 ms after`)
  t.is(stale.length, 0, `calls that began after the reset resolved got a stored v1 value:\n${some(stale, from)}`)

  // Caught up: on the new version, and every call after the catch-up bound gets it.
  const state = await x.do({ op: 'state' })
  t.is(state.version, 'v2')
  t.is(state.members, 2)
  const late = calls.filter((c) => c.start > thawed + CATCH_UP)
  t.true(late.length > 0)
  t.deepEqual(late.filter((c) => c.value?.version !== 'v2'), [], `after catching up, calls still got:\n${some(late.filter((c) => c.value?.version !== 'v2'), from)}`)
  t.true(x.alive && y.alive)
  return { calls, from, thawed, resolved: reset.end }
}

test.serial('while the thread that created the cache is blocked past peerTimeout, its worker threads serve no stored value older than a peer\'s reset, and no call hangs (ipc)', async (t) => {
  const { calls, from, resolved, thawed } = await stall(t, { bus: 'ipc', fault: 'block', partition: 'compute' })
  // The worker went on calling while the agent was deaf: those calls computed, uncached.
  const during = calls.filter((c) => c.start > resolved && c.start < thawed)
  t.true(during.length > 100, `only ${during.length} calls were made while the thread was blocked, after the reset`)
  const served = during.filter((c) => c.value === undefined || c.value.at < from)
  t.is(served.length, 0, `calls during the stall were not computed afresh:\n${some(served, from)}`)
})

const stopped = (bus: Scenario['bus']) => inTurn(async (t: ExecutionContext) => {
  const { calls, thawed } = await stall(t, { bus, fault: 'stop', partition: 'compute' })
  t.deepEqual(calls.filter((c) => c.error !== undefined).map((c) => c.error), [])
  t.true(calls.some((c) => c.start >= thawed && c.start < thawed + 50), 'no call was made in the first 50 ms after SIGCONT')
})

test.serial('a process SIGSTOPped past peerTimeout serves no stored value older than the reset a peer made meanwhile, from any thread, from the instant it runs again (ipc)', stopped('ipc'))

nats('a process SIGSTOPped past peerTimeout serves no stored value older than the reset a peer made meanwhile, from any thread, from the instant it runs again (NATS)', stopped('nats'))
redis('a process SIGSTOPped past peerTimeout serves no stored value older than the reset a peer made meanwhile, from any thread, from the instant it runs again (Redis)', stopped('redis'))

// The bound is kept on a clock that only goes forward (src/shared/clock.ts). On the wall clock, a
// process whose clock steps back by a minute, then loses the cluster, serves a minute too long;
// and a peer whose clock steps forward counts the others out as soon as it looks, and its reset
// resolves while they may still serve for up to peerTimeout.
test.serial('a process whose wall clock steps back a minute, then is SIGSTOPped past peerTimeout, serves no stored value older than the reset a peer made meanwhile (ipc)', inTurn(async (t) => {
  await stall(t, { bus: 'ipc', fault: 'stop', partition: 'compute', step: { of: 'x', by: -60_000 } })
}))

test.serial('a reset made by a peer whose wall clock has just stepped forward does not resolve while a process stopped for less than peerTimeout still serves stored values (ipc)', inTurn(async (t) => {
  const { calls, thawed, resolved } = await stall(t, { bus: 'ipc', fault: 'stop', partition: 'compute', faultFor: 600, step: { of: 'y', by: 20_000 } })
  t.log(`the reset resolved ${resolved - thawed} ms after SIGCONT; ${calls.filter((c) => c.start >= thawed && c.start < resolved).length} calls were made in between`)
}))

// peerTimeout is each process's own option, and a cluster may be given two (a deploy that changes
// it reaches the processes one at a time). A process stops serving its own peerTimeout after it
// last heard itself; a peer that counted it out by a shorter one would resolve a reset while it
// still serves.
test.serial('a reset made by a peer with a shorter peerTimeout does not resolve while a process stopped for less than its own, longer, peerTimeout still serves stored values (ipc)', inTurn(async (t) => {
  const { calls, thawed, resolved } = await stall(t, { bus: 'ipc', fault: 'stop', partition: 'compute', faultFor: 2000, timeouts: { x: 3000, y: 1000 } })
  t.log(`the reset resolved ${resolved - thawed} ms after SIGCONT; ${calls.filter((c) => c.start >= thawed && c.start < resolved).length} calls were made in between`)
}))

const refusing = (fault: Fault) => async (t: ExecutionContext) => {
  const { calls, from, thawed } = await stall(t, { bus: 'ipc', fault, partition: 'reject' })
  const refused = calls.filter((c) => c.error !== undefined)
  t.deepEqual([...new Set(refused.map((c) => c.error))], ['ERR_COOP_CACHE_PARTITIONED'])
  // It refused while it could not serve: from peerTimeout into the fault (blocked) or from SIGCONT (stopped) until caught up.
  const start = fault === 'block' ? from + PEER_TIMEOUT : thawed
  t.true(refused.some((c) => c.start >= start && c.start < thawed + CATCH_UP), 'no call was refused while the process could not serve')
  t.deepEqual(refused.filter((c) => c.start < from || c.start > thawed + CATCH_UP).map((c) => c.start - from), [], 'calls were refused outside the fault')
  // It serves again once caught up: stored v2 values, not only its own computations.
  t.true(calls.some((c) => c.start > thawed + CATCH_UP && !c.own && c.value?.version === 'v2'), 'no stored value was served after catching up')
}

test.serial('with partition: \'reject\', a process whose creating thread is blocked past peerTimeout refuses misses with CachePartitionedError while it may not serve, and serves again once caught up (ipc)', refusing('block'))
test.serial('with partition: \'reject\', a process SIGSTOPped past peerTimeout refuses misses with CachePartitionedError when it runs again, until it has caught up, then serves again (ipc)', refusing('stop'))

// The reset above starts while the blocked process is still a member, and waits for it. One made
// after its peers have dropped the blocked process from their view waits for nobody, and must
// still not resolve while that process may serve. A process stops serving peerTimeout after it
// last heard the bus (any message: a beat, a get); its peers drop it peerTimeout after they last
// heard *it* (at their next heartbeat). So when the blocked process heard a message after its own
// last beat — here a real get from a third peer, late in the blocked process's heartbeat and
// after the resetting peer's heartbeat — it serves on after its peers have dropped it.
//
// Nothing x does in answer to that get may reach the resetter, or the resetter would keep it
// for another peerTimeout: so the asker asks for a value x already holds (a hit, answered to the
// asker alone), and values are not replicated (with replicas, the asker would not ask at all).
// Nor may anything else: a process that joins, or comes back after being dropped, is welcomed
// by each peer peerTimeout + heartbeat later (gives, gave) and answers (taken), so each attempt
// begins once that is over.
//
// The test listens to the beats on the ipc bus to time it. The heartbeat is long (500 ms) so the
// timing is loose. The resetter is whichever other peer beats early in x's heartbeat; when none
// does, x is blocked across its next beat for as long as puts one of them there (a timer that
// fires late keeps its new phase). An attempt whose timing was missed anyway (the resetter
// dropped x no earlier than x itself stops serving) is made again; the test fails if none of 4
// is provoked, rather than pass without having made the race.
test.serial('a reset made the instant its peers stop seeing a blocked process does not resolve while that process still serves stored values (ipc, 3 peers)', async (t) => {
  const heartbeat = 500
  const peerTimeout = 1500
  const block = 2000
  /** the get reaches x this long before x's next beat */
  const getBefore = 120
  /** where in x's heartbeat the resetter beats, when the test places it there */
  const resetterAt = 190
  const cluster = await startFaultPeers(t, { bus: 'ipc', size: 3, name: 'stall-race', heartbeat, peerTimeout, replicas: 1 })
  const [x, ...others] = cluster.peers as [FaultPeer, FaultPeer, FaultPeer]
  // Every beat heard on the bus, by sender, when this process heard it.
  const beats = new Map<string, number[]>()
  const observer = await (cluster.hub as IpcBus).join(cluster.name, 'observer', (bytes) => {
    for (const message of messagesOf(bytes)) {
      if (message.t === 'beat' && message.f !== undefined) beats.set(message.f, [...(beats.get(message.f) ?? []), Date.now()])
    }
  })
  t.teardown(() => observer.leave())
  const beatOf = (p: FaultPeer, after: number, before = Infinity) => beats.get(p.peer)?.find((time) => time > after && time < before)
  const keys = cluster.keysOf(x, 3, 'page-')
  const [probe, ...looped] = keys as [string, ...string[]]
  // x holds a key under the version it is on once a second call of it is a hit.
  const hold = async (key: string) => {
    for (let tries = 0; (await x.do({ op: 'call', key })).own && tries < 50; tries++) await sleep(20)
  }

  for (let attempt = 1, version = 'v1'; ; attempt++) {
    // x was welcomed (it joined, or came back after the last attempt's block): wait till that is done.
    await sleep(peerTimeout + 2 * heartbeat)
    // x holds its keys and the probe, and loops on its keys.
    for (const key of keys) await hold(key)
    await x.do({ op: 'loop', keys: looped, every: 1, main: false, workers: 1 })
    // x beats, then another peer (the resetter: at its heartbeat it drops x), then the third
    // asks x for the probe late in x's heartbeat, and x blocks: all before x's next beat.
    let beat = 0
    let late = 0
    let resetter: FaultPeer | undefined
    for (let cycles = 0; resetter === undefined; cycles++) {
      if (cycles === 4) throw new Error(`no peer beat early in x's heartbeat after ${cycles} shifts of x's phase`)
      const since = Date.now()
      while ((beat = beatOf(x, since) ?? 0) === 0) await sleep(1)
      late = beat + heartbeat - getBefore
      await sleep(late - 40 - Date.now())
      resetter = others.find((p) => beatOf(p, beat + 40, late - 40) !== undefined)
      if (resetter !== undefined) break
      // Shift x's phase: delay its next beat by as much as puts the first other peer's beats at
      // resetterAt in x's heartbeat.
      const last = beatOf(others[0], beat - heartbeat) ?? beat
      const shift = (((last - beat - resetterAt) % heartbeat) + heartbeat) % heartbeat
      await x.do({ op: 'block', ms: Math.max(0, beat + heartbeat + shift - Date.now()) })
    }
    const asker = others.find((p) => p !== resetter) as FaultPeer
    await sleep(late - Date.now())
    const asked = asker.do({ op: 'call', key: probe }, 10_000)
    asked.catch(() => {}) // awaited below; a failure before must not go unhandled
    await sleep(10)
    const next = `v${attempt + 1}`
    const resetting = resetter.do({ op: 'reset', version: next, whenMembers: 2 }, 10_000)
    resetting.catch(() => {}) // awaited below; a failure before must not go unhandled
    const { from } = await x.do({ op: 'block', ms: block })
    const reset = await resetting
    t.is(reset.error, undefined)
    const answer = await asked
    await sleep(from + block + 500 - Date.now())
    const logs = await x.do({ op: 'dump' }, 10_000)
    const calls = logs.workers.flat()
    const lastStored = Math.max(...calls.filter((c) => c.start > from && c.value?.version === version && c.value.end < c.start - EXISTED).map((c) => c.start))
    // Provoked: the resetter dropped x (and reset) before x's last message heard, the get, was
    // peerTimeout old; and the get was a hit at x (a computation would have told the others).
    const provoked = reset.start < late + peerTimeout - 20 && !answer.own
    const what = `x beat at +0, the resetter at +${(beatOf(resetter, beat) ?? 0) - beat}, the get at about +${late - beat} (${answer.own ? 'computed by the asker' : 'a hit'}); x blocked at +${from - beat}; the reset began at +${reset.start - beat} and resolved at +${reset.end - beat}; x last served a stored value at +${lastStored - beat}`
    t.log(`attempt ${attempt}${provoked ? '' : ', timing missed'}: ${what}`)
    const stale = staleAfter(calls, reset.end, version)
    t.is(stale.length, 0, `calls that began after the reset resolved got a stored value of the version before:\n${some(stale, beat)}`)
    if (provoked) return
    if (attempt === 4) return t.fail('the race was not provoked in 4 attempts')
    version = next
  }
})

// A process can read the bus late: its thread starved of the CPU, say, while the messages wait in
// its socket. What it reads then was sent long before; its peers last heard the process itself
// earlier still. Here one of three peers reads every other peer's message 600 ms late, and then
// loses the bus (the broker dies, say): what it sends is lost, and so is what is sent to it,
// but the messages already on their way still reach it, late. A peer resets meanwhile; the reset
// resolves once the process is counted out. Its serving must have ended by then, however late it
// went on hearing old messages.
test.serial('a process that reads the bus late, then loses it, no longer serves stored values when a reset that counted it out resolves', async (t) => {
  const late = 600
  const { bus, late: readLate, lose } = losingBus()
  const cluster = await peers(t, 'late-reader', 3, { bus, replicas: 1, heartbeat: 50, peerTimeout: 1000 })
  const [resetter, slow] = cluster.members as [Member, Member, Member]
  readLate(slow.cache.peer as string, late)
  const [key] = cluster.keysOf(slow, 1, 'late-') as [string]
  t.is(await cached(slow.cache, key, () => 'stored under v1'), 'stored under v1')
  t.is(await cached(slow.cache, key, () => 'computed again'), 'stored under v1', 'the value is stored')
  await sleep(late + 200)
  const lostAt = Date.now()
  lose(slow.cache.peer as string, lostAt)
  await reset(resetter.cache, 'v2')
  const resolved = Date.now() - lostAt
  const got = await cached(slow.cache, key, () => 'computed after the reset')
  t.log(`the reset resolved ${resolved} ms after the bus was lost`)
  t.is(got, 'computed after the reset', `the slow reader served its stored value ${Date.now() - lostAt} ms after it lost the bus, after the reset resolved`)
})

// A broker that dies does not drop its clients all at once. Here one of three peers loses the bus
// first (what it sends, and what is sent to it, is lost), and makes a reset; the others lose the
// bus 300 ms later. The first to lose it cuts itself off first, and then sees no peer at all: that
// is no proof that any of them has taken its reset, and the reset does not resolve while the
// others may still serve what they stored.
test.serial('a reset made by a process that lost the bus does not resolve while peers that lost it later still serve stored values', async (t) => {
  const { first, later, keys, loseIt } = await losingFirst(t, 'lost-first', 'stored under v1')
  const start = loseIt()
  await sleep(500)
  await reset(first.cache, 'v2')
  const resolved = Date.now() - start
  const got = await Promise.all(later.map((member, i) => cached(member.cache, keys[i] as string, () => 'computed after the reset')))
  t.log(`the reset resolved ${resolved} ms after the first lost the bus`)
  t.deepEqual(got, ['computed after the reset', 'computed after the reset'], `served ${Date.now() - start} ms after the first lost the bus, once the reset resolved`)
})

// As above, but the process that loses the bus first goes on hearing its own messages a little
// longer than its peers': it hears no peer from +0, its own messages until +200; the others lose
// the bus at +250 and serve until +1250. It counts them out (+1000) before it cuts itself off
// (+1200): that proves nothing of their serving, its own link having failed first. (Had they kept
// the bus past the reset's peerTimeout + heartbeat, +1350, nothing this process could know would
// say when they stop: a partial partition, see the README.)
test.serial('a reset made by a process that counts its peers out as its own link dies does not resolve while they still serve stored values', async (t) => {
  const { first, later, keys, loseIt } = await losingFirst(t, 'deaf-first', 'stored under v1')
  const start = loseIt({ deafFor: 200, later: 250 })
  await sleep(300)
  await reset(first.cache, 'v2')
  const resolved = Date.now() - start
  const got = await Promise.all(later.map((member, i) => cached(member.cache, keys[i] as string, () => 'computed after the reset')))
  t.log(`the reset resolved at +${resolved} ms`)
  t.deepEqual(got, ['computed after the reset', 'computed after the reset'], `served at +${Date.now() - start} ms, once the reset resolved`)
})
