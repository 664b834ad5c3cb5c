// Guarantee 1 across processes: a miss anywhere in the cluster is one computation in the whole
// cluster, however many processes and threads ask at once. Each peer is a process of its own
// (a cache in this process, on the memory bus) with 2 owner threads and 2 caller threads; its
// fn is held at a gate until every call everywhere has been made, so the calls all meet.
import test, { type ExecutionContext } from 'ava'
import { brokerTest } from './helpers/brokers.js'
import { outcomesOf, startCluster, within, type ClusterOptions } from './helpers/cluster.js'

// Asked before any test is declared: ava takes no declaration after the file's first tick.
const natsTest = await brokerTest('nats')
const redisTest = await brokerTest('redis')

const KEYS = Array.from({ length: 10 }, (_, i) => `page-${i}`)
const PROCESSES = 3
const THREADS = 2
/** calls per key per caller thread: 300 concurrent calls per thread over the 10 keys */
const CALLS = 30

async function computeOnce(t: ExecutionContext, bus: ClusterOptions['bus']): Promise<void> {
  // No peer leaves during the test, so a long peer timeout costs nothing and keeps a busy
  // machine from mistaking a slow peer for a gone one.
  const cluster = await startCluster(t, { bus, size: PROCESSES, callers: THREADS, name: `once-${bus}`, peerTimeout: 3000 })
  const runs = cluster.peers.map((p) => p.stampede(KEYS, CALLS, { gate: 0 }))
  await within(Promise.all(runs.map((r) => r.issued)), 30_000, 'every call to be made')
  // Every key's computation has started somewhere, and is held there: open the gates.
  let started = 0
  await within(
    (async () => {
      while ((started = await cluster.computed()) < KEYS.length) await new Promise((resolve) => setTimeout(resolve, 20))
    })(),
    20_000,
    `the ${KEYS.length} computations to start (${started} did)`,
  )
  await Promise.all(cluster.peers.map((p) => p.open(0)))
  const done = await Promise.all(runs.map((r) => r.done))
  const outcomes = outcomesOf(done)
  t.is(outcomes.length, PROCESSES * THREADS * KEYS.length * CALLS)
  t.deepEqual(outcomes.filter(({ outcome }) => !outcome.ok), [])
  t.deepEqual(outcomes.filter(({ key, outcome }) => !outcome.ok || outcome.value !== key), [])
  const computed = done.map((d) => d.computed)
  t.log(`computations per process: ${computed.join(', ')}`)
  t.is(computed.reduce((a, b) => a + b, 0), KEYS.length)
  // the cache's own counters agree
  const computes = (await Promise.all(cluster.peers.map((p) => p.stats(true)))).map((s) => s.computes)
  t.is(computes.reduce((a, b) => a + b, 0), KEYS.length)
}

const title = (bus: string) => `${PROCESSES} processes × ${THREADS} threads × 300 concurrent calls for 10 cold keys compute exactly 10 values, on ${bus}`

test.serial(title('ipc'), (t) => computeOnce(t, 'ipc'))
natsTest(title('nats'), (t) => computeOnce(t, 'nats'))
redisTest(title('redis'), (t) => computeOnce(t, 'redis'))
test.serial(`${PROCESSES} caches in one process × ${THREADS} threads × 300 concurrent calls for 10 cold keys compute exactly 10 values, on the memory bus`, (t) =>
  computeOnce(t, 'memory'),
)
