// Issue 9, a live view: `coop-cache top` watches a cluster as an observer that no peer counts.
// The command runs as a real child process (the built bin) against real peer processes on the
// machine's Redis and NATS, and what it prints is checked against what each process did and
// says of itself; the observer API is checked on the ipc bus a cluster's parent routes (as a
// cluster primary would use it), and on a sealed cache, with and without its secret.
import test, { type ExecutionContext } from 'ava'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { cached, createCache, memoryBus, type Cache, type CacheStats } from 'coop-cache'
import { observe, type ObservedPeer, type Snapshot } from 'coop-cache/observe'
import { redisBus } from 'coop-cache/redis'
import { brokerTest, brokerUrl } from './helpers/brokers.js'
import { eventually, sleep, startCluster, type Cluster } from './helpers/cluster.js'

const natsTest = await brokerTest('nats')
const redisTest = await brokerTest('redis')

const run = promisify(execFile)
const bin = fileURLToPath(new URL('../src/cli/main.js', import.meta.url))
const HEARTBEAT = 100
const SECRET = 'the secret of the sealed cache, 32+ bytes'

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the built `coop-cache` command with `args`; resolves with its exit code and output, whatever they are. */
async function coopCache(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { timeout: 15_000, env: { ...process.env, COOP_CACHE_SECRET: '', ...env } })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(error) }
  }
}

/** `coop-cache top --json` on `bus`: the snapshot it printed. */
async function topJson(t: ExecutionContext, bus: 'redis' | 'nats', name: string, more: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Snapshot> {
  const ran = await coopCache(['top', `--${bus}`, brokerUrl[bus], '--name', name, '--json', '--wait', String(5 * HEARTBEAT), ...more], env)
  t.is(ran.code, 0, ran.stderr)
  return JSON.parse(ran.stdout) as Snapshot
}

const hitRatio = (s: CacheStats) => (s.hits + s.misses === 0 ? null : s.hits / (s.hits + s.misses))

async function cluster3(t: ExecutionContext, bus: 'redis' | 'nats' | 'ipc'): Promise<Cluster> {
  const cluster = await startCluster(t, { bus, size: 3, callers: 1, threads: 1, name: `top-${bus}`, heartbeat: HEARTBEAT, version: 'v1' })
  const [a, b, c] = cluster.peers as [Cluster['peers'][number], Cluster['peers'][number], Cluster['peers'][number]]
  // a computes six keys, b asks for the same ones (hits, or waits on their owner), c for two of its own
  const six = Array.from({ length: 6 }, (_, i) => `page-${i}`)
  await a.stampede(six, 2, {}).done
  // b holds copies of them (every process keeps every value) before it asks: all hits
  while ((await b.stats(true)).entries < six.length) await sleep(10)
  await b.stampede(six, 3, {}).done
  await c.stampede(['report-1', 'report-2'], 1, {}).done
  return cluster
}

/** The peer of `snapshot` that is process `pid`. */
const byPid = (snapshot: Snapshot, pid: number | undefined) => snapshot.peers.find((p) => p.pid === pid) as ObservedPeer

/** Each process's own stats, once they no longer move (its last beat says the same). */
async function settledStats(cluster: Cluster): Promise<CacheStats[]> {
  let before = await Promise.all(cluster.peers.map((p) => p.stats(true)))
  for (let tries = 0; tries < 20; tries++) {
    await sleep(3 * HEARTBEAT)
    const now = await Promise.all(cluster.peers.map((p) => p.stats(true)))
    if (JSON.stringify(now) === JSON.stringify(before)) return now
    before = now
  }
  throw new Error(`the stats of the processes still move: ${JSON.stringify(before)}`)
}

async function cliShowsTheCluster(t: ExecutionContext, bus: 'redis' | 'nats'): Promise<void> {
  const cluster = await cluster3(t, bus)
  const stats = await settledStats(cluster)
  // While the command listens, every process still counts exactly the three of them.
  const shown = topJson(t, bus, cluster.name)
  await sleep(3 * HEARTBEAT)
  t.deepEqual(await Promise.all(cluster.peers.map(async (p) => (await p.stats(false)).peers)), [3, 3, 3], 'a process counted the observer as a member')
  const snapshot = await shown
  t.deepEqual(await Promise.all(cluster.peers.map(async (p) => (await p.state()).members)), [3, 3, 3])

  t.is(snapshot.name, cluster.name)
  t.is(snapshot.refused, 0)
  t.deepEqual(snapshot.peers.map((p) => p.pid).sort(), cluster.peers.map((p) => p.pid as number).sort())
  for (const [i, peer] of cluster.peers.entries()) {
    const seen = byPid(snapshot, peer.pid)
    const own = stats[i] as CacheStats
    t.is(seen.id, peer.peer)
    t.is(seen.host, hostname())
    t.is(seen.version, 'v1')
    t.is(seen.epoch, own.epoch)
    t.is(seen.counters.entries, own.entries, `entries of peer ${i}`)
    t.is(seen.counters.bytes, own.bytes)
    t.is(seen.counters.memoryLimit, own.memoryLimit)
    t.is(seen.hitRatio, hitRatio(own), `hit ratio of peer ${i}`)
    t.true(seen.age >= 0 && seen.age < 1000, `the last beat of peer ${i} is ${seen.age} ms old`)
  }
  // What the three did, added up: each of the eight keys computed once in the cluster, and
  // every call a hit or a miss. b only ever asked for keys a had computed.
  const sum = (f: (p: ObservedPeer) => number) => snapshot.peers.reduce((n, p) => n + f(p), 0)
  t.is(sum((p) => p.counters.computes), 8)
  t.is(sum((p) => p.counters.hits + p.counters.misses), 6 * 2 + 6 * 3 + 2)
  t.is(byPid(snapshot, cluster.peers[1]?.pid).hitRatio, 1)
}

redisTest('coop-cache top --json on Redis shows the three processes of a live cluster, their pids, host, version, entries and hit ratios, and none of them counts it', (t) =>
  cliShowsTheCluster(t, 'redis'),
)
natsTest('coop-cache top --json on NATS shows the three processes of a live cluster, their pids, host, version, entries and hit ratios, and none of them counts it', (t) =>
  cliShowsTheCluster(t, 'nats'),
)

test('the observer API, joined to the ipc bus a cluster\'s parent routes, sees every process, its computations and its leaving, and is counted by none', async (t) => {
  const cluster = await cluster3(t, 'ipc')
  const observer = await observe({ name: cluster.name, bus: cluster.hub as NonNullable<Cluster['hub']>, timeout: 1000 })
  t.teardown(() => observer.close())
  await eventually(t, () => `3 peers seen, not ${observer.snapshot().peers.length}`, () => observer.snapshot().peers.length === 3, 3000)
  t.deepEqual(observer.snapshot().peers.map((p) => p.pid).sort(), cluster.peers.map((p) => p.pid as number).sort())
  // computations made while it watches show as a rate
  const [a, , c] = cluster.peers as [Cluster['peers'][number], Cluster['peers'][number], Cluster['peers'][number]]
  await a.stampede(Array.from({ length: 20 }, (_, i) => `more-${i}`), 1, {}).done
  await eventually(t, () => 'a rate of computations', () => cluster.peers.some((p) => (byPid(observer.snapshot(), p.pid).computesPerSecond ?? 0) > 0), 3000)
  t.deepEqual(await Promise.all(cluster.peers.map(async (p) => (await p.stats(false)).peers)), [3, 3, 3])
  // a killed process is no longer shown once it has been silent for the timeout
  await c.kill()
  await eventually(t, () => `2 peers seen, not ${observer.snapshot().peers.length}`, () => observer.snapshot().peers.length === 2, 3000)
  t.false(observer.snapshot().peers.some((p) => p.pid === c.pid))
})

test('the observer shows each process\'s heartbeat and peerTimeout, and without a timeout of its own forgets each silent process after that process\'s own peerTimeout', async (t) => {
  const bus = memoryBus()
  const name = `top-timing-${randomUUID().slice(0, 8)}`
  const quick = await createCache({ name, bus, threads: 1, heartbeat: 50, peerTimeout: 600 })
  const slow = await createCache({ name, bus, threads: 1, heartbeat: 100, peerTimeout: 3000 })
  t.teardown(() => Promise.all([quick.close(), slow.close()]))
  const observer = await observe({ name, bus })
  t.teardown(() => observer.close())
  await eventually(t, () => `2 peers seen, not ${observer.snapshot().peers.length}`, () => observer.snapshot().peers.length === 2, 3000)
  const timing = (id: string | undefined) => observer.snapshot().peers.filter((p) => p.id === id).map((p) => [p.heartbeat, p.peerTimeout])
  t.deepEqual([timing(quick.peer), timing(slow.peer)], [[[50, 600]], [[100, 3000]]])
  bus.cut(quick.peer as string)
  bus.cut(slow.peer as string)
  const cut = Date.now()
  // From the last beat the observer heard, not from the cut: with the cores shared, the beats
  // came late, and the last one was heard 180 ms before the cut (in CI).
  let heard = 0
  await eventually(t, () => 'the quick one to be forgotten', () => {
    const seen = observer.snapshot().peers.find((p) => p.id === quick.peer)
    if (seen !== undefined) heard = seen.heard
    return seen === undefined
  }, 3000)
  const forgotten = Date.now() - heard
  t.true(forgotten >= 550 && forgotten < 1500, `the process with peerTimeout 600 was forgotten ${forgotten} ms after its last beat was heard`)
  await sleep(cut + 2000 - Date.now())
  t.is(timing(slow.peer).length, 1, 'the process with peerTimeout 3000 was forgotten after 2 s of silence')
  await eventually(t, () => 'the slow one to be forgotten', () => timing(slow.peer).length === 0, 3000)
})

/** Two caches of one name in this process, created with a secret, on their own redisBus each. */
async function sealedPair(t: ExecutionContext): Promise<{ name: string; caches: Cache[] }> {
  const name = `top-sealed-${randomUUID().slice(0, 8)}`
  const caches: Cache[] = []
  t.teardown(() => Promise.all(caches.map((c) => c.close())))
  for (let i = 0; i < 2; i++) caches.push(await createCache({ name, threads: 1, heartbeat: HEARTBEAT, version: 7, secret: SECRET, bus: redisBus({ url: brokerUrl.redis }) }))
  await eventually(t, () => 'the two caches to see each other', async () => (await Promise.all(caches.map((c) => c.stats()))).every((s) => s.peers === 2))
  await cached(caches[0] as Cache, 'sealed-key', async () => 'sealed value')
  return { name, caches }
}

redisTest('a cache created with a secret shows nothing without it, or with another, and everything with it (--secret or COOP_CACHE_SECRET)', async (t) => {
  const { name, caches } = await sealedPair(t)
  const [without, wrong, given, fromEnv] = await Promise.all([
    topJson(t, 'redis', name),
    topJson(t, 'redis', name, ['--secret', 'not the secret of this cache, 32+ bytes']),
    topJson(t, 'redis', name, ['--secret', SECRET]),
    topJson(t, 'redis', name, [], { COOP_CACHE_SECRET: SECRET }),
  ])
  t.deepEqual(without.peers, [])
  t.true(without.refused > 0)
  t.regex(without.refusal ?? '', /signed, and the observer was given no secret/)
  t.deepEqual(wrong.peers, [])
  t.regex(wrong.refusal ?? '', /signed with a key this cache does not have/)
  for (const seen of [given, fromEnv]) {
    t.is(seen.refused, 0)
    t.deepEqual(seen.peers.map((p) => p.id).sort(), caches.map((c) => c.peer as string).sort())
    t.deepEqual(seen.peers.map((p) => [p.pid, p.host, p.version]), [[process.pid, hostname(), 7], [process.pid, hostname(), 7]])
    // One key, stored by its owner, and also by the other process if it fetched it from there.
    const local = await Promise.all(caches.map((c) => c.stats({ local: true })))
    t.is(seen.peers.reduce((n, p) => n + p.counters.entries, 0), local.reduce((n, s) => n + s.entries, 0))
  }
  t.deepEqual((await Promise.all(caches.map((c) => c.stats()))).map((s) => s.peers), [2, 2])
})

test('coop-cache top says what is wrong with its arguments, and exits with 2', async (t) => {
  const cases: [readonly string[], RegExp][] = [
    [['top', '--redis', brokerUrl.redis, '--nats', brokerUrl.nats, '--name', 'x'], /--redis and --nats are exclusive/],
    [['top', '--redis', brokerUrl.redis], /--name <cache> is missing/],
    [['top', '--name', 'x'], /no bus given: --redis <url> or --nats <url>/],
    [['top', '--redis', brokerUrl.redis, '--name', 'x', '--json', '--wait', 'soon'], /--wait must be a positive whole number of milliseconds, not "soon"/],
    [['top', '--redis', brokerUrl.redis, '--name', 'x', '--wait', '100'], /--wait is for --json/],
    [['top', '--redis', brokerUrl.redis, '--name', 'x', '--secret', 'short'], /--secret is 5 bytes; a secret is at least 16 bytes/],
    [['top', '--redis', brokerUrl.redis, '--name', 'x', '--colour'], /Unknown option '--colour'/],
    [['tops'], /unknown command "tops"/],
  ]
  const ran = await Promise.all(cases.map(([args]) => coopCache(args)))
  for (const [i, [args, message]] of cases.entries()) {
    const { code, stderr } = ran[i] as Ran
    t.is(code, 2, args.join(' '))
    t.regex(stderr, message)
  }
  const help = await coopCache(['top', '--help'])
  t.is(help.code, 0)
  t.regex(help.stdout, /^Usage: coop-cache top/)
})
