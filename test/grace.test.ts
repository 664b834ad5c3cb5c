// Grace: within `grace` after a value expires, callers get the old value at once (status
// 'stale') while one caller in the whole cluster recomputes it in the background; once that
// has finished, calls get the new value. If the background computation throws, the old value
// goes on being served until the grace ends; after that a call computes, and waits, as on any
// miss. A reset or an invalidation during the grace is never softened by it.
//
// The background computation is held at a gate the test controls: the stale calls are shown to
// resolve while it is held, and computations are counted, not timed. Values are stored with
// a grace of a minute, except where the test needs the grace to end; there it waits until the
// grace has surely ended (helpers/lifetimes.ts), and checks that calls were stale only when
// they surely ended within it.
import test, { type ExecutionContext } from 'ava'
import type { CallLife } from './helpers/board.js'
import { brokerTest } from './helpers/brokers.js'
import { eventually, outcomesOf, startCluster, within, type Cluster, type ClusterOptions, type Stampede } from './helpers/cluster.js'
import { computations, heldFor, howsIn, openEverywhere, past, storeAtOwner, tally, valuesIn } from './helpers/lifetimes.js'

// Asked before any test is declared: ava takes no declaration after the file's first tick.
const natsTest = await brokerTest('nats')

const PROCESSES = 3
const CALLERS = 3
const CALLS = 10
const KEYS = ['forecast-paris', 'forecast-oslo', 'forecast-lima']
/** the calls of one round: every call of every caller thread of every process, for every key */
const ROUND = PROCESSES * CALLERS * KEYS.length * CALLS
const TTL = 300
/** a grace no test outlasts */
const LONG = 60_000
/** what a copy's time on the bus may add to its life (see expiredOld) */
const COPY_TRANSIT_MS = 200
/** the life of what is computed after the first values: long, so that nothing else expires during a test */
const AFTER = { ttl: LONG, grace: LONG }

const cluster3 = (t: ExecutionContext, bus: ClusterOptions['bus'], name: string) =>
  startCluster(t, { bus, size: PROCESSES, callers: CALLERS, name, peerTimeout: 3000 })

/** Every caller thread of every process calls every key `CALLS` times at once, with `life`. */
function round(cluster: Cluster, spec: { value: string; gate?: number; throws?: string }, life: CallLife): Promise<Stampede[]> {
  return Promise.all(cluster.peers.map((p) => p.stampede(KEYS, CALLS, spec, life).done))
}

/** Computes every key once as 'old', with `life`, in its owner; resolves once it has expired there, with the instant it was stored by. */
async function expiredOld(t: ExecutionContext, cluster: Cluster, life: CallLife): Promise<number> {
  const { outcomes, storedBy } = await storeAtOwner(cluster, KEYS, { value: 'old' }, life)
  t.deepEqual(outcomes, KEYS.map(() => ({ ok: true, value: 'old', status: 'computed' })))
  t.is(await cluster.computed(), KEYS.length)
  // A copy in another process lives what the value had left when the copy arrived, so it
  // expires up to its time on the bus later than the owner's: on a loaded machine, tens of ms.
  await past(storedBy, (life.ttl as number) + COPY_TRANSIT_MS)
  return storedBy
}

/** Resolves once the cluster's computations have failed at least `n` times. */
async function failed(t: ExecutionContext, cluster: Cluster, n: number): Promise<void> {
  let failures = 0
  await eventually(t, () => `${failures} failures, not ${n}`, async () => {
    failures = (await Promise.all(cluster.peers.map((p) => p.stats(true)))).reduce((sum, s) => sum + s.failures, 0)
    return failures >= n
  })
}

async function staleWhileOneRefreshes(t: ExecutionContext, bus: ClusterOptions['bus']): Promise<void> {
  const cluster = await cluster3(t, bus, `grace-${bus}`)
  await expiredOld(t, cluster, { ttl: TTL, grace: LONG })
  // Every call in grace resolves with the old value while the recomputation is held at gate 1.
  const stale = await round(cluster, { value: 'new', gate: 1 }, AFTER)
  t.deepEqual(tally(stale), { 'old stale': ROUND })
  // One recomputation per key has started, somewhere in the cluster, and is held there...
  await computations(cluster, 2 * KEYS.length)
  // ...while many more calls come, in every process and thread, and are served the old value at once.
  for (let i = 0; i < 2; i++) t.deepEqual(tally(await round(cluster, { value: 'new', gate: 1 }, AFTER)), { 'old stale': ROUND })
  t.is(await cluster.computed(), 2 * KEYS.length, 'exactly one background computation per key in the whole cluster')
  await openEverywhere(cluster, 1)
  // Once it has finished, every process serves the new value (a process that served its own
  // stale copy fetches the new one from the key's owner: no computation).
  let last: Stampede[] = []
  await eventually(
    t,
    () => `calls still get ${JSON.stringify(tally(last))}`,
    async () => {
      last = await round(cluster, { value: 'not computed: the refresh stored "new"' }, AFTER)
      t.deepEqual([...valuesIn(last)].filter((v) => v !== 'old' && v !== 'new'), [], 'only the old value, or the new one')
      return valuesIn(last).size === 1 && valuesIn(last).has('new')
    },
    15_000,
  )
  t.false(howsIn(last).has('stale'))
  t.is(await cluster.computed(), 2 * KEYS.length, 'and still exactly one background computation per key')
}

const title = (bus: string) =>
  `within grace ${PROCESSES} processes × ${CALLERS} threads get the old value at once while exactly one background computation per key runs in the cluster; then the new value, on ${bus}`

test.serial(title('the memory bus'), (t) => staleWhileOneRefreshes(t, 'memory'))
natsTest(title('nats'), (t) => staleWhileOneRefreshes(t, 'nats'))

test('when the background computation throws, the old value is served until the grace ends; then a call computes and waits', async (t) => {
  const cluster = await cluster3(t, 'memory', 'grace-throws')
  const life = { ttl: TTL, grace: 4000 }
  // The value is stored after this instant, so any call that has ended before `inGrace` ended within its grace.
  const inGrace = Date.now() + life.ttl + life.grace
  await expiredOld(t, cluster, life)
  const failing = { value: 'never', throws: 'the source is down' }
  const stale = await round(cluster, failing, AFTER)
  // The background computation of each key ran, and failed.
  await computations(cluster, 2 * KEYS.length)
  await failed(t, cluster, KEYS.length)
  // Calls after the failure are still served the old value.
  const after = await round(cluster, failing, AFTER)
  const lastStale = Date.now()
  if (lastStale < inGrace) {
    t.deepEqual(tally(stale), { 'old stale': ROUND })
    t.deepEqual(tally(after), { 'old stale': ROUND }, 'after the failed refresh')
  } else {
    t.log('the machine was too slow to call within the grace: stale values not checked')
  }
  // Once the grace has surely ended everywhere, and the background computations asked for in
  // it have all failed, a call computes, and waits for it.
  // (A process's stale copy, fetched from the owner, has what the owner's had left of the grace
  // when it was sent, from when it arrived: it ends no later than `grace` after the last stale call.)
  await past(lastStale, life.grace)
  const computed = await cluster.computed()
  await failed(t, cluster, computed - KEYS.length)
  const runs = cluster.peers.map((p) => p.stampede(KEYS, CALLS, { value: 'new', gate: 2 }, AFTER))
  await within(Promise.all(runs.map((r) => r.issued)), 20_000, 'every call after the grace to be made')
  await heldFor(cluster, computed + KEYS.length, runs)
  await openEverywhere(cluster, 2)
  const fresh = await Promise.all(runs.map((r) => r.done))
  t.deepEqual(valuesIn(fresh), new Set(['new']))
  // Never stale; a call whose request reached an owner after the new value was stored is a hit.
  t.deepEqual([...howsIn(fresh)].filter((how) => !['computed', 'coalesced', 'remote', 'hit', 'near'].includes(how as string)), [], JSON.stringify(tally(fresh)))
  t.is((await cluster.computed()) - computed, KEYS.length)
})

/** Whether `value` came from a computation that started before `before` (a peer's count of computations then). */
function fromBefore(value: unknown, before: readonly number[]): boolean {
  const named = /^.*-by-(\d+)#(\d+)$/.exec(String(value))
  return named === null || Number(named[2]) < (before[Number(named[1])] as number)
}

async function notSoftened(t: ExecutionContext, change: 'reset' | 'invalidate'): Promise<void> {
  const cluster = await cluster3(t, 'memory', `grace-${change}`)
  const [a, b] = cluster.peers
  await expiredOld(t, cluster, { ttl: TTL, grace: LONG })
  // In grace, with each key's recomputation held at gate 1: each names the process and the order it started in.
  const byEach = (word: string, gate?: number) =>
    cluster.peers.map((p, i) => p.stampede(KEYS, CALLS, { value: `${word}-by-${i}`, ordinal: true, ...(gate === undefined ? {} : { gate }) }, AFTER))
  const stale = await Promise.all(byEach('refresh', 1).map((r) => r.done))
  t.deepEqual(tally(stale), { 'old stale': ROUND })
  await computations(cluster, 2 * KEYS.length)
  // Every computation started so far is from before the change.
  const before = await Promise.all(cluster.peers.map((p) => p.computed()))
  const done = change === 'reset' ? await a!.reset(2) : await Promise.all(KEYS.map((key) => b!.do({ op: 'invalidate', key })))
  t.deepEqual([done].flat().filter((outcome) => !outcome.ok), [], `${change} resolved`)
  // The recomputations under way are fenced: their signals abort.
  let aborted = 0
  await eventually(t, () => `${aborted} computations saw their signal abort, not ${KEYS.length}`, async () => {
    aborted = (await Promise.all(cluster.peers.map((p) => p.state()))).reduce((sum, s) => sum + s.aborted, 0)
    return aborted >= KEYS.length
  })
  // Calls after the change, while the fenced computations are still held and once they are let go.
  const runs = byEach('after')
  await within(Promise.all(runs.map((r) => r.issued)), 20_000, `every call after the ${change} to be made`)
  await openEverywhere(cluster, 1)
  for (const calls of [await Promise.all(runs.map((r) => r.done)), await Promise.all(byEach('later').map((r) => r.done))]) {
    const old = outcomesOf(calls).filter(({ outcome }) => !outcome.ok || fromBefore(outcome.value, before))
    t.deepEqual(old, [], `nothing from before the ${change}: ${JSON.stringify(tally(calls))}`)
    t.false(howsIn(calls).has('stale'), `nothing stale after the ${change}`)
  }
}

test.serial('a reset during the grace is not softened: no value from before it is served, stale or otherwise', (t) => notSoftened(t, 'reset'))
test.serial('an invalidation during the grace is not softened: no value from before it is served, stale or otherwise', (t) => notSoftened(t, 'invalidate'))
