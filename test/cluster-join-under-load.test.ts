// Guarantee 1 through membership changes: processes that join a cluster one after another while
// its cache fills under load (a cluster started cold a process at a time, a scale-out, a rolling
// deploy) compute no key that another process holds or is computing. "Membership changes
// without faults do not duplicate."
//
// Measured on this machine (3 processes on Redis, a second or so apart, each calling 20 at a time
// for 2,000 keys, fn 20 ms): 2,005 to 2,176 computations. Four ways a key went twice (docs/
// decisions.md, "Joins in quick succession, under load"):
// - a process still joining was sent its peers' requests for the keys it owns (they count it in
//   from its hello) and computed them at once, uncached, before it knew which peer held them;
// - a newcomer asked the owner of a key before it among all the members, one that joined after
//   it included, which holds none of the values stored before;
// - the owner before it, among those it found, had itself joined a moment before and not yet been
//   handed the value by the owner before that (and would not be: the key had moved on), and the
//   handover to a newcomer left out every value of a key that a third process ranks between them;
// - a newcomer's first calls reached its owner threads before the view that says whom to ask.
import type { ExecutionContext } from 'ava'
import { brokerTest } from './helpers/brokers.js'
import { sleep, startCluster, type Peer } from './helpers/cluster.js'

// Asked before any test is declared: ava takes no declaration after the file's first tick.
const redisTest = await brokerTest('redis')

const KEYS = 2000
/** how long each computation takes, ms */
const COMPUTE = 20

async function joinUnderLoad(t: ExecutionContext, replicas: 1 | 'all'): Promise<void> {
  // The library's own timing (heartbeat 200 ms, peer timeout 2 s): a peer hands a newcomer the
  // values of its keys 2.2 s after it heard it, and the processes here join within that.
  const cluster = await startCluster(t, { bus: 'redis', size: 1, callers: 0, name: `join-load-${replicas}`, heartbeat: 200, peerTimeout: 2000, replicas })
  const load = (peer: Peer, ms: number) => peer.do({ op: 'loop', prefix: 'page-', count: KEYS, loops: 20, ms, spec: { delay: COMPUTE } }, ms + 30_000)
  const loads = [load(cluster.peers[0] as Peer, 7000)]
  for (const ms of [6000, 5000]) {
    await sleep(300)
    loads.push(load(await cluster.add(), ms))
  }
  const ends = await Promise.all(loads)
  for (const end of ends) {
    t.deepEqual(end.failed, [], `${end.failures} calls failed`)
    t.is(end.wrong, 0)
  }
  t.log(`calls per process while they joined: ${ends.map((end) => end.calls).join(', ')}`)
  // Then every key once from every process: those no call drew yet are computed now, once.
  await cluster.settled()
  for (const end of await Promise.all(cluster.peers.map((peer) => peer.do({ op: 'wide', prefix: 'page-', count: KEYS, spec: { delay: COMPUTE } })))) {
    t.deepEqual(end.failed, [], `${end.failures} calls failed`)
    t.is(end.wrong, 0)
  }
  const computed = await Promise.all(cluster.peers.map((peer) => peer.computed()))
  t.log(`computations per process: ${computed.join(', ')}`)
  t.is(
    computed.reduce((a, b) => a + b, 0),
    KEYS,
  )
}

redisTest(`processes that join one after another while ${KEYS} keys are asked for under load compute each key once, replicas: 1, on Redis`, (t) => joinUnderLoad(t, 1))
redisTest(`processes that join one after another while ${KEYS} keys are asked for under load compute each key once, replicas: 'all', on Redis`, (t) => joinUnderLoad(t, 'all'))
