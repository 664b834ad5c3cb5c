// What a process cut off from its peers does once it has not heard the bus within peerTimeout:
// it serves nothing stored (not from its owners, not from a near copy, in no thread), and its
// misses either reject with CachePartitionedError (`partition: 'reject'`) or compute uncached
// (`partition: 'compute'`, the default: nothing is stored, the next call computes again). Once
// the bus heals it catches up with the cluster's version and serves again.
import test, { type ExecutionContext } from 'ava'
import { cached, reset, type CacheOptions } from 'coop-cache'
import { outcome, type Outcome } from './helpers/board.js'
import { callerThreads, type CallerThread } from './helpers/callers.js'
import { eventually, sleep, within } from './helpers/cluster.js'
import { peers, type Member, type Peers } from './helpers/pair.js'

/** pair.ts's peers beat every 50 ms and time out after 1 s. */
const HEARTBEAT = 50
const PEER_TIMEOUT = 1000

/** Numbers every computation of the main thread, whichever peer runs it. */
let made = 0
const valueOf = (m: Member, key: string) =>
  cached<string>(m.cache, key, async (context) => `${String(await m.board.fn({ value: key, withVersion: true })(context))}#${++made}`)
/** What the worker's fn makes: `key@version#thread.n`, so its values are its own too. */
const spec = (key: string) => ({ value: key, withVersion: true, tag: true })

interface CutOff {
  readonly cluster: Peers
  readonly a: Member
  readonly b: Member
  /** a thread of b's attached to its cache */
  readonly worker: CallerThread
  readonly keys: string[]
  /** every value served before the cut */
  readonly old: Set<unknown>
}

/** Two peers with values stored (near copies too, in b's threads); then b is cut off past peerTimeout, and a resets to v2 meanwhile. */
async function cutOff(t: ExecutionContext, options: Partial<CacheOptions>): Promise<CutOff> {
  const cluster = await peers(t, `partition-${options.partition ?? 'default'}`, 2, { version: 'v1', ...options })
  const [a, b] = cluster.members as [Member, Member]
  const [worker] = (await callerThreads(b.cache, b.board, 1)) as [CallerThread]
  t.teardown(() => worker.end())
  const keys = [...cluster.keysOf(a, 2, 'of-a-'), ...cluster.keysOf(b, 2, 'of-b-')]
  const old = new Set<unknown>()
  // Stored under v1; b's second calls are near hits, in its main thread and in its worker.
  for (const key of keys) {
    for (const m of [a, b, b]) old.add(await valueOf(m, key))
    for (let i = 0; i < 2; i++) for (const o of await worker.cached(key, spec(key)).done) old.add(o.ok ? o.value : o.message)
  }
  t.is(old.size, keys.length, 'one value per key, served everywhere')
  // A thread adds its near hits to the shared count once per turn of its event loop, so the
  // worker's may land just after its answer.
  let nearHits = 0
  await eventually(t, () => `b's second calls to be near hits (${nearHits} of ${2 * keys.length})`, async () => {
    nearHits = (await b.cache.stats({ local: true })).nearHits
    return nearHits >= 2 * keys.length
  }, PEER_TIMEOUT)
  cluster.bus.cut(b.cache.peer as string)
  const cutAt = Date.now()
  // a's reset resolves without b's answer once b has had its peer timeout.
  const resetOnA = within(reset(a.cache, 'v2'), 3 * PEER_TIMEOUT, "a's reset with b cut off")
  await sleep(cutAt + PEER_TIMEOUT + 3 * HEARTBEAT - Date.now())
  await resetOnA
  t.deepEqual([a.cache.version, b.cache.version], ['v2', 'v1'])
  return { cluster, a, b, worker, keys, old }
}

/** After the bus heals, b takes v2 and serves stored values again: a second call computes nothing. */
async function catchesUp(t: ExecutionContext, { cluster, a, b, worker, keys, old }: CutOff): Promise<void> {
  cluster.bus.heal(b.cache.peer as string)
  await eventually(t, () => `b to take v2 (it is on ${String(b.cache.version)})`, () => b.cache.version === 'v2', 5 * PEER_TIMEOUT)
  await cluster.settled()
  let last: Outcome[] = []
  await eventually(t, () => `b to serve stored values again (it got ${JSON.stringify(last)})`, async () => {
    const first = await Promise.all(keys.map((key) => outcome(valueOf(b, key))))
    const ran = b.board.computed
    last = await Promise.all(keys.map((key) => outcome(valueOf(b, key))))
    return first.every((o) => o.ok) && JSON.stringify(first) === JSON.stringify(last) && b.board.computed === ran
  }, 5 * PEER_TIMEOUT)
  for (const [i, key] of keys.entries()) {
    const o = last[i] as Outcome
    t.true(o.ok && String(o.value).startsWith(`${key}@v2#`), `b serves ${JSON.stringify(o)} for ${key}`)
    t.deepEqual(await worker.cached(key, spec(key)).done, [o], "b's worker gets the same")
    t.is(await valueOf(a, key), (o as { value: string }).value, 'and so does a')
  }
  t.false(last.some((o) => o.ok && old.has(o.value)), 'nothing from before the cut')
}

test('with partition: \'reject\', a cut-off process rejects its misses with CachePartitionedError and serves nothing stored, until it catches up', async (t) => {
  const cut = await cutOff(t, { partition: 'reject' })
  const { b, worker, keys } = cut
  const ran = b.board.computed
  const refusals: Outcome[] = []
  for (const key of [...keys, 'never-stored']) {
    // Stored keys (with near copies) and a cold one alike, from b's main thread and its worker.
    refusals.push(await outcome(valueOf(b, key)), await outcome(valueOf(b, key)), ...(await worker.cached(key, spec(key), 2).done))
  }
  t.is(refusals.length, 4 * (keys.length + 1))
  const wrong = refusals.filter((o) => o.ok || o.name !== 'CachePartitionedError' || o.code !== 'ERR_COOP_CACHE_PARTITIONED')
  t.deepEqual(wrong, [], 'every call rejects with CachePartitionedError')
  t.regex((refusals[0] as { message: string }).message, /has not heard its peers within peerTimeout \(1000 ms\), and the cache has partition: 'reject'/)
  t.is(b.board.computed, ran, 'nothing was computed')
  await catchesUp(t, cut)
})

test('with the default partition: \'compute\', a cut-off process computes its misses uncached and serves nothing stored, until it catches up', async (t) => {
  const cut = await cutOff(t, {})
  const { b, worker, keys, old } = cut
  const storedBefore = (await b.cache.stats({ local: true })).stored
  for (const key of [...keys, 'never-stored']) {
    // Each call computes afresh, under the version b knows: nothing from before, nothing kept.
    // The worker's first call may still find the main thread's last computation in flight at
    // its owner (its put and the worker's get come over different ports): it shares that value,
    // counted as coalesced, rather than computing.
    const ran = b.board.computed
    const here = [await valueOf(b, key), await valueOf(b, key)]
    t.is(b.board.computed - ran, 2, `${key}: every call in b's main thread computes`)
    const joined = (await b.cache.stats({ local: true })).coalesced
    const there = (await worker.cached(key, spec(key)).done).concat(await worker.cached(key, spec(key)).done)
    const shared = (await b.cache.stats({ local: true })).coalesced - joined
    t.true(shared <= 1, `${key}: only the worker's first call can join the main thread's computation`)
    t.is(b.board.computed - ran, 4 - shared, `${key}: and every other call in its worker computes (it got ${JSON.stringify(there)})`)
    const values = [...here, ...there.map((o) => (o.ok ? o.value : o.message))]
    for (const value of values) {
      t.false(old.has(value), `${key}: ${String(value)} was stored before the cut`)
      t.regex(String(value), new RegExp(`^${key}@v1#`))
    }
    t.is(new Set(values).size, 4 - shared, `${key}: one value per computation`)
    if (shared === 1) t.is(there[0]?.ok === true ? there[0].value : undefined, here[1], `${key}: the shared value is the main thread's last`)
  }
  t.is((await b.cache.stats({ local: true })).stored, storedBefore, 'nothing was stored')
  await catchesUp(t, cut)
})
