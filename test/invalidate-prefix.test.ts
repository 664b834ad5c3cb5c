// invalidate(cache, key, { prefix: true }) drops every key that starts with an array key, and
// only those: in every thread of a process, and in every process of a cluster (on the memory
// bus, on NATS, on Redis). A key "starts with" ['user', 1] when it is an array whose first
// elements are 'user' and 1: ['user', 1] itself, ['user', 1, 'profile'], ['user', 1, 'posts', 3];
// not ['user', 10] (1 is not 10, though "1" starts "10"), ['user', '1'], ['user'] or 'user'.
import test, { type ExecutionContext } from 'ava'
import { cached, invalidate, type Key } from 'coop-cache'
import { outcome, until } from './helpers/board.js'
import { brokerTest } from './helpers/brokers.js'
import { startCluster, type ClusterOptions, type Peer } from './helpers/cluster.js'
import { only, servedEverywhere, shown, valueOf } from './helpers/everywhere.js'
import { withCache, type Scene } from './helpers/scene.js'

const natsTest = await brokerTest('nats')
const redisTest = await brokerTest('redis')

const PREFIX = ['user', 1]
const UNDER: Key[] = [['user', 1], ['user', 1, 'profile'], ['user', 1, 'posts', 3], ['user', 1, { tab: 'posts' }]]
const OUTSIDE: Key[] = [['user', 2], ['user', 10], ['user', 2, 1], ['user', '1'], ['user', 1.5], ['user'], 'user', ['users', 1], { user: 1 }, [['user', 1]]]
const KEYS = [...UNDER, ...OUTSIDE]
const isUnder = (key: Key) => UNDER.some((k) => shown(k) === shown(key))

/** Per key, the values every thread of the scene got, one thread after another: fn would give valueOf(key, word). */
async function servedInThreads({ cache, board, workers }: Scene, word: string): Promise<Record<string, string[]>> {
  const served: Record<string, string[]> = {}
  for (const key of KEYS) {
    const spec = { value: valueOf(key, word) }
    const outcomes = [await outcome(cached(cache, key, board.fn(spec))), ...(await Promise.all(workers.map(async (w) => (await w.cached(key, spec).done)[0])))]
    served[shown(key)] = [...new Set(outcomes.map((o) => (o?.ok ? String(o.value) : `${o?.name}: ${o?.message}`)))].sort()
  }
  return served
}

test('a prefix invalidation drops the keys under it in every thread, near copies included, and no other key', (t) =>
  withCache({ name: 'prefix-threads', threads: 2 }, 2, async (scene) => {
    const { cache, board, workers } = scene
    // three rounds: every thread ends with near copies of every key
    for (let round = 0; round < 3; round++) t.deepEqual(await servedInThreads(scene, 'old'), only(KEYS, () => 'old'))
    await Promise.all(workers.map((w) => w.stats()))
    await until(cache, (stats) => stats.nearHits >= 5 * KEYS.length)
    t.is(board.computed, KEYS.length)
    await invalidate(cache, PREFIX, { prefix: true })
    t.is((await cache.stats()).entries, OUTSIDE.length)
    t.deepEqual(await servedInThreads(scene, 'new'), only(KEYS, (key) => (isUnder(key) ? 'new' : 'old')))
    t.is(board.computed, KEYS.length + UNDER.length)
    // from a worker thread, the same
    t.deepEqual(await workers[0]!.invalidate(PREFIX, true), { ok: true, value: undefined })
    t.deepEqual(await servedInThreads(scene, 'newer'), only(KEYS, (key) => (isUnder(key) ? 'newer' : 'old')))
    t.is(board.computed, KEYS.length + 2 * UNDER.length)
  }),
)

test('a prefix that is the whole of a key drops that key and the keys below it, not its parent', (t) =>
  withCache({ name: 'prefix-exact', threads: 2 }, 1, async (scene) => {
    const { cache, board } = scene
    const keys: Key[] = [['a'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'bc'], ['ab']]
    for (const key of keys) await cached(cache, key, board.fn({ value: 'old' }))
    await invalidate(cache, ['a', 'b'], { prefix: true })
    const after = await Promise.all(keys.map((key) => cached(cache, key, board.fn({ value: 'new' }))))
    t.deepEqual(after, ['old', 'new', 'new', 'old', 'old'])
  }),
)

// Every array key starts with []: dropping them all is what a reset is for, so the empty prefix
// is refused rather than taken to drop [] alone.
test('the empty prefix is refused with a TypeError that says to reset instead, and drops nothing', (t) =>
  withCache({ name: 'prefix-empty', threads: 2 }, 0, async ({ cache, board }) => {
    const keys: Key[] = [[], ['a'], ['a', 'b'], [['a']], 'plain', { a: 1 }]
    for (const key of keys) await cached(cache, key, board.fn({ value: 'old' }))
    await t.throwsAsync(invalidate(cache, [], { prefix: true }), { instanceOf: TypeError, message: /non-empty array.*reset the cache/ })
    t.deepEqual(await Promise.all(keys.map((key) => cached(cache, key, board.fn({ value: 'new' })))), keys.map(() => 'old'))
  }),
)

async function acrossProcesses(t: ExecutionContext, bus: ClusterOptions['bus']): Promise<void> {
  const cluster = await startCluster(t, { bus, size: 3, name: `prefix-${bus}`, peerTimeout: 3000 })
  const peers = cluster.peers
  // twice: the second round is served from stored values and near copies everywhere
  t.deepEqual(await servedEverywhere(peers, KEYS, 'old'), only(KEYS, () => 'old'))
  t.deepEqual(await servedEverywhere(peers, KEYS, 'old'), only(KEYS, () => 'old'))
  t.is(await cluster.computed(), KEYS.length)
  // On the memory bus every message takes up to 40 ms from here on: an invalidation that
  // resolved before every peer had applied it would show.
  cluster.bus?.faults({ delay: 40 })
  for (const [round, from] of [peers[1], peers[2]].entries()) {
    const word = `new-${round}`
    const done = await (from as Peer).do({ op: 'invalidate', key: PREFIX, prefix: true })
    t.is(done.ok ? 'resolved' : done.message, 'resolved')
    // it has resolved in one process: no process serves an old value of a key under the prefix,
    // and none computes a key outside it again
    t.deepEqual(await servedEverywhere(peers, KEYS, word), only(KEYS, (key) => (isUnder(key) ? word : 'old')))
    t.is(await cluster.computed(), KEYS.length + (round + 1) * UNDER.length, 'each key under the prefix computed once more in the whole cluster')
  }
}

const title = (bus: string) => `a prefix invalidation that has resolved in one process leaves no old value under it in any process, and recomputes nothing else, on ${bus}`
test.serial(title('the memory bus'), (t) => acrossProcesses(t, 'memory'))
natsTest(title('NATS'), (t) => acrossProcesses(t, 'nats'))
redisTest(title('Redis'), (t) => acrossProcesses(t, 'redis'))
