// A broker killed and restarted under traffic: three peer processes on a Redis (then a NATS) of
// the test's own, each running a workload of calls, while the broker is SIGKILLed twice — once
// with a reset made during the outage, once with a reset made right as the broker dies — and
// restarted each time. What must hold throughout:
//
//   - no process exits;
//   - every call settles, within peerTimeout + computeTimeout + a margin (calls during the
//     outage compute uncached: partition 'compute');
//   - no call is served a stored value older than a reset that resolved before it began;
//   - after each restart the cluster converges within a bound: every peer on the reset's
//     version, every peer seeing the others;
//   - after that, with all peers up, a reset is fresh everywhere at once and each key is
//     computed exactly once in the cluster.
import test, { type ExecutionContext } from 'ava'
import { startNats, startRedis, type OwnBroker } from './helpers/own-brokers.js'
import { sleep, startFaultPeers, type Call, type FaultPeer, type FaultPeers } from './helpers/fault-peers.js'
import { hung, slower, some, staleAfter } from './helpers/staleness.js'

const HEARTBEAT = 100
const PEER_TIMEOUT = 1000
const COMPUTE_TIMEOUT = 500
/** no call may take longer */
const BOUND = PEER_TIMEOUT + COMPUTE_TIMEOUT + 1000
/** how long the broker stays down */
const OUTAGE = 2500
/** by when, after the broker is back, every peer must be on the last version and see the others */
const CONVERGE = 6000
const KEYS = Array.from({ length: 24 }, (_, i) => `doc-${i}`)

/** Resolves with how long it took every peer to be on `version` and see all three members; fails the test after CONVERGE ms. */
async function converged(t: ExecutionContext, peers: readonly FaultPeer[], version: string): Promise<number> {
  const start = Date.now()
  let seen: string[] = []
  while (Date.now() - start < CONVERGE) {
    const states = await Promise.all(peers.map((p) => p.do({ op: 'state' }, 3000)))
    seen = states.map((s) => `${String(s.version)}/${s.members}`)
    if (states.every((s) => s.version === version && s.members === peers.length)) return Date.now() - start
    await sleep(50)
  }
  t.fail(`the cluster did not converge within ${CONVERGE} ms of the broker's restart: version/members ${seen.join(', ')}`)
  throw new Error('not converged')
}

async function outages(t: ExecutionContext, broker: OwnBroker, bus: 'redis' | 'nats'): Promise<void> {
  const cluster: FaultPeers = await startFaultPeers(t, {
    bus, url: broker.url, size: 3, name: `outage-${bus}`, heartbeat: HEARTBEAT, peerTimeout: PEER_TIMEOUT, computeTimeout: COMPUTE_TIMEOUT,
  })
  const peers = cluster.peers
  const [p0, p1, p2] = peers as [FaultPeer, FaultPeer, FaultPeer]
  const loads = peers.map((p) => p.do({ op: 'load', keys: KEYS, lanes: 3, ms: 40_000, fnMs: 20, gap: 5 }, 55_000))
  // A test that fails before it reads them must not leave their rejection unhandled (the processes die at teardown).
  for (const load of loads) load.catch(() => {})
  await sleep(1000)

  // 1. The broker dies; a reset is made during the outage; the broker comes back.
  const killed = Date.now()
  await broker.kill()
  await sleep(500)
  const during = await p0.do({ op: 'reset', version: 'v2' }, PEER_TIMEOUT + HEARTBEAT + 3000)
  t.is(during.error, undefined)
  await sleep(killed + OUTAGE - Date.now())
  await broker.restart()
  const first = await converged(t, peers, 'v2')
  await sleep(500)

  // 2. A reset goes out, and the broker dies 2 ms later.
  const resetting = p1.do({ op: 'reset', version: 'v3' }, PEER_TIMEOUT + HEARTBEAT + 3000)
  resetting.catch(() => {}) // awaited below; a failure before must not go unhandled
  await sleep(2)
  const killedAgain = Date.now()
  await broker.kill()
  const asItDied = await resetting
  t.is(asItDied.error, undefined)
  await sleep(killedAgain + OUTAGE - Date.now())
  await broker.restart()
  const second = await converged(t, peers, 'v3')
  await sleep(500)

  // 3. All up: a reset is fresh everywhere once it resolved, and each key is computed once.
  const healthy = await p2.do({ op: 'reset', version: 'v4' })
  t.is(healthy.error, undefined)
  await sleep(1000)
  await Promise.all(peers.map((p) => p.do({ op: 'stop' })))
  const runs = await Promise.all(loads)
  // every key, once more in every peer, so that each has been asked for under v4
  const last = await Promise.all(peers.map(async (p) => {
    const calls: Call[] = []
    for (const key of KEYS) calls.push(await p.do({ op: 'call', key }))
    return calls
  }))
  const states = await Promise.all(peers.map((p) => p.do({ op: 'state' })))

  const calls = [...runs.flatMap((r) => r.calls), ...last.flat()]
  const now = Date.now()
  t.log(`${calls.length} calls, the longest ${Math.max(...calls.map((c) => c.end - c.start))} ms; reset during the outage took ${during.end - during.start} ms, as the broker died ${asItDied.end - asItDied.start} ms; converged ${first} and ${second} ms after the restarts`)
  t.deepEqual(peers.map((p) => p.ended), [undefined, undefined, undefined], 'a peer process exited')
  t.deepEqual(runs.flatMap((r) => hung(r.pending, now, BOUND)), [], 'calls hung')
  const slow = slower(calls, BOUND)
  t.is(slow.length, 0, `calls took longer than ${BOUND} ms:\n${some(slow, killed)}`)
  t.deepEqual(calls.filter((c) => c.error !== undefined).map((c) => c.error), [], 'calls failed')
  for (const [reset, old] of [[during, 'v1'], [asItDied, 'v2'], [healthy, 'v3']] as const) {
    const stale = staleAfter(calls, reset.end, old)
    t.is(stale.length, 0, `calls that began after the reset from ${old} resolved (+${reset.end - killed} ms) got a stored ${old} value:\n${some(stale, killed)}`)
  }
  const notFresh = calls.filter((c) => c.start > healthy.end && c.value?.version !== 'v4')
  t.is(notFresh.length, 0, `with every peer up, calls after the reset to v4 resolved got:\n${some(notFresh, killed)}`)
  const computed = KEYS.map((key) => states.reduce((n, s) => n + (s.computations[`${key}@v4`] ?? 0), 0))
  t.deepEqual(computed, KEYS.map(() => 1), 'computations of each key under v4, over the cluster')
}

test.serial('Redis SIGKILLed and restarted under traffic, with resets during the outage and as it dies: no process exits, every call settles in time, nothing stale is served, the cluster converges and computes each key once', async (t) => {
  await outages(t, await startRedis(t), 'redis')
})

test.serial('NATS SIGKILLed and restarted under traffic, with resets during the outage and as it dies: no process exits, every call settles in time, nothing stale is served, the cluster converges and computes each key once', async (t) => {
  await outages(t, await startNats(t), 'nats')
})
