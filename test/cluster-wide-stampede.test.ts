// Guarantee 1 at scale: a cold cache hit at once on thousands of distinct keys from every
// process (a reset under production traffic, a cluster started cold) computes each key once.
// Each process makes one call per key from its creating thread, where its agent runs too; half
// the keys are owned by the other process, so each of those calls is a request over the bus
// that lives as long as the key's computation (a second) and is renewed meanwhile.
//
// Measured on this machine with the library's own timing, 2 processes on Redis: 14,000 to 20,000
// keys were computed up to 4 times over (Node 20 to 24), as the processes read their messages
// seconds late, gave requests up, and took themselves for cut off from the bus. What made them
// hold: renewals of a peer's requests together in one message (renewals-together.test.ts), a
// request given up only after two peer timeouts of silence, the check that a process hears
// itself made after the turn's I/O (agent.ts #echoLate), and each thread taking up what its
// ports bring a share at a time (shared/outbox.ts). 40,000 keys then held alone, 16,000 with a
// second such pair running on the same 2 cores, and 8,000 with two more (12,000 in 4 runs of 6):
// 12,000 here leaves room for the test file that runs beside this one.
import type { ExecutionContext } from 'ava'
import { brokerTest } from './helpers/brokers.js'
import { startCluster, type ClusterOptions } from './helpers/cluster.js'

// Asked before any test is declared: ava takes no declaration after the file's first tick.
const redisTest = await brokerTest('redis')

const KEYS = 12_000
/** how long each computation takes, ms: each remote request lives that long, renewed */
const COMPUTE = 1000

async function wideStampede(t: ExecutionContext, bus: ClusterOptions['bus']): Promise<void> {
  // The library's own timing (heartbeat 200 ms, peer timeout 2 s), and no caller threads: the
  // calls, the computations and the agent share each process's creating thread.
  const cluster = await startCluster(t, { bus, size: 2, callers: 0, name: `wide-${bus}`, heartbeat: 200, peerTimeout: 2000 })
  await cluster.settled()
  const started = Date.now()
  const ends = await Promise.all(cluster.peers.map((peer) => peer.do({ op: 'wide', prefix: 'item-', count: KEYS, spec: { delay: COMPUTE } }, 120_000)))
  t.log(`${KEYS} keys from each of 2 processes in ${Date.now() - started} ms; computations per process: ${ends.map((end) => end.computed).join(', ')}`)
  for (const end of ends) {
    t.is(end.calls, KEYS)
    t.deepEqual(end.failed, [], `${end.failures} calls failed`)
    t.is(end.wrong, 0)
  }
  t.is(
    ends.reduce((sum, end) => sum + end.computed, 0),
    KEYS,
  )
  const computes = (await Promise.all(cluster.peers.map((p) => p.stats(true)))).map((s) => s.computes)
  t.is(
    computes.reduce((a, b) => a + b, 0),
    KEYS,
  )
}

redisTest('2 processes each asking 12,000 cold keys at once, one call per key from the creating thread, compute each key once, on Redis', (t) => wideStampede(t, 'redis'))
