// The counters say what happened (issue 7, finding 7: stats().computes read 9 after 5
// computations and a quick reset; onReset was never called on a cache without a bus).
// `computes` is the number of fn calls actually made, counted on a board: also when a reset lands
// between a computer being chosen and its fn starting, in one process with several threads, and
// summed over the peers of a cluster. `onReset` is called once per new version, in order, in the
// thread that created the cache, whichever thread reset it.
import test, { type ExecutionContext } from 'ava'
import { once } from 'node:events'
import { Worker, threadId } from 'node:worker_threads'
import { cached, createCache, reset, type Cache } from 'coop-cache'
import { Board, outcome, until, type FnSpec, type Outcome } from './helpers/board.js'
import { callerThreads } from './helpers/callers.js'
import { eventually, within } from './helpers/cluster.js'
import { peers, type Member } from './helpers/pair.js'
import { withCache } from './helpers/scene.js'
import type { BlockingCommand } from './fixtures/blocking-caller.js'

test('a reset that lands between a computer being chosen and its fn starting counts no computation', async (t) => {
  const cache = await createCache({ name: 'stats-exact-race', threads: 1, version: 'v1' })
  t.teardown(() => cache.close())
  const board = new Board()
  const hold = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(new URL('./fixtures/blocking-caller.js', import.meta.url), { workerData: { cache: cache.handle, board: board.buffer, hold: hold.buffer } })
  t.teardown(() => worker.terminate())
  const order = async (command: BlockingCommand) => {
    worker.postMessage(command)
    return (await within(once(worker, 'message'), 10_000, command.op))[0] as unknown
  }
  t.like(await order({ op: 'warm', key: 'warm' }), { ok: true })
  const before = await cache.stats()
  // The worker asks for a cold key, then blocks: the owner chooses it to compute, in epoch v1.
  t.is(await order({ op: 'call and block', key: 'page', spec: { value: 'page', withVersion: true } }), 'issued')
  await until(cache, (stats) => stats.misses > before.misses)
  // The reset lands before the worker has read that it computes.
  await reset(cache, 'v2')
  Atomics.store(hold, 0, 1)
  Atomics.notify(hold, 0)
  const [done] = (await within(once(worker, 'message'), 10_000, 'the call to settle')) as [Outcome]
  t.deepEqual(done, { ok: true, value: 'page@v2' })
  t.is(board.computed, 1, 'fn ran once: in v2')
  t.is((await cache.stats()).computes - before.computes, board.computed)
})

/** Every thread's calls for `keys`, with a burst of resets from this thread and a worker in the middle. */
async function stampedeWithResets(cache: Cache, board: Board, workers: Awaited<ReturnType<typeof callerThreads>>, keys: readonly string[], round: number): Promise<Outcome[]> {
  const spec: FnSpec = { value: 'v', withVersion: true, delay: 2 }
  const remote = workers.flatMap((w) => keys.map((key) => w.cached(key, spec, 4)))
  const local = keys.flatMap((key) => Array.from({ length: 4 }, () => outcome(cached(cache, key, board.fn(spec)))))
  // Resets from here and from a worker, each a few turns after the last: computers are being
  // chosen, told, and starting all the while.
  const resets: Promise<unknown>[] = []
  for (let i = 0; i < 6; i++) {
    await new Promise((resolve) => setImmediate(resolve))
    resets.push(i % 2 === 0 ? reset(cache, `r${round}.${i}`) : (workers[0] as (typeof workers)[0]).reset(`r${round}.${i}`))
  }
  await Promise.all(resets)
  return [...(await Promise.all(local)), ...(await Promise.all(remote.map((r) => r.done))).flat()]
}

test('with several threads and many quick resets during a stampede, computes equals the computations run', (t) =>
  withCache({ name: 'stats-exact-threads', threads: 2 }, 3, async ({ cache, board, workers }) => {
    const keys = ['a', 'b', 'c', 'd', 'e']
    for (let round = 0; round < 8; round++) {
      const outcomes = await within(stampedeWithResets(cache, board, workers, keys, round), 20_000, `round ${round} to settle`)
      t.deepEqual(outcomes.filter((o) => !o.ok), [], `round ${round}: every call gets a value`)
      const stats = await cache.stats()
      t.is(stats.computes, board.computed, `round ${round}: computes counts the fn calls made`)
    }
    const stats = await cache.stats()
    t.log(`${board.computed} computations (${board.aborted} of them aborted by a reset) for ${stats.misses} misses, over ${stats.resets} resets`)
    t.true(board.aborted > 0, 'resets did land during computations')
  }))

test('over two peers on a memoryBus, with quick resets during a stampede, computes is each peer\'s fn calls and their sum for the cluster', async (t) => {
  const cluster = await peers(t, 'stats-exact', 2)
  const members = cluster.members as [Member, Member]
  const [a, b] = members
  const keys = [...cluster.keysOf(a, 3, 'a-'), ...cluster.keysOf(b, 3, 'b-')]
  const spec: FnSpec = { value: 'v', withVersion: true, delay: 2 }
  for (let round = 0; round < 5; round++) {
    const calls = members.flatMap((m) => keys.flatMap((key) => Array.from({ length: 3 }, () => outcome(cached(m.cache, key, m.board.fn(spec))))))
    const resets: Promise<void>[] = []
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setImmediate(resolve))
      resets.push(reset((members[i % 2] as Member).cache, `r${round}.${i}`))
    }
    await within(Promise.all(resets), 10_000, `round ${round}'s resets`)
    const outcomes = await within(Promise.all(calls), 10_000, `round ${round}'s calls`)
    t.deepEqual(outcomes.filter((o) => !o.ok), [], `round ${round}: every call gets a value`)
  }
  for (const m of members) t.is((await m.cache.stats({ local: true })).computes, m.board.computed, 'each peer counts its own fn calls')
  const total = a.board.computed + b.board.computed
  let seen: number[] = []
  await eventually(
    t,
    () => `the cluster's computes to be ${total} on both peers, not ${seen.join(' and ')}`,
    async () => (seen = await Promise.all(members.map(async (m) => (await m.cache.stats()).computes))).every((n) => n === total),
    3000,
  )
  t.log(`${total} computations (a ${a.board.computed}, b ${b.board.computed}; ${a.board.aborted + b.board.aborted} aborted by a reset)`)
})

async function onResetCache(t: ExecutionContext, name: string): Promise<{ cache: Cache; calls: { version: unknown; thread: number }[] }> {
  const calls: { version: unknown; thread: number }[] = []
  const cache = await createCache({ name, threads: 1, version: 'v0', onReset: (version) => calls.push({ version, thread: threadId }) })
  t.teardown(() => cache.close())
  return { cache, calls }
}

test('onReset is called on a cache without a bus once per new version, in order, in the creating thread, for resets made in any thread', async (t) => {
  const { cache, calls } = await onResetCache(t, 'stats-on-reset')
  const board = new Board()
  const workers = await callerThreads(cache, board, 2)
  t.teardown(() => Promise.all(workers.map((w) => w.end())))
  const [w0, w1] = workers as [(typeof workers)[0], (typeof workers)[0]]
  const versions = () => calls.map((c) => c.version)
  // One at a time, from here and from a worker; a reset to the version the cache has is no call.
  await reset(cache, 'v1')
  await reset(cache, 'v1')
  t.like(await w0.reset('v2'), { ok: true })
  t.like(await w0.reset('v2'), { ok: true })
  await reset(cache, 'v0') // the initial version again: a new version for the cache
  t.deepEqual(versions(), ['v1', 'v2', 'v0'])
  // Quick ones from here, not awaited one by one: in the order they were made.
  await Promise.all(['q1', 'q2', 'q3', 'q4', 'q5'].map((v) => reset(cache, v)))
  // Sequential ones from a worker.
  for (const v of ['w1', 'w2', 'w3']) t.like(await w1.reset(v), { ok: true })
  t.deepEqual(versions(), ['v1', 'v2', 'v0', 'q1', 'q2', 'q3', 'q4', 'q5', 'w1', 'w2', 'w3'])
  // From three threads at once: the same version is one call; distinct ones one each, the last
  // one called naming the version the cache is on.
  await Promise.all([reset(cache, 'same'), w0.reset('same'), w1.reset('same')])
  t.deepEqual(versions().slice(11), ['same'])
  await Promise.all([reset(cache, 'x-main'), w0.reset('x-w0'), w1.reset('x-w1')])
  t.deepEqual([...versions().slice(12)].sort(), ['x-main', 'x-w0', 'x-w1'])
  t.is(calls.at(-1)?.version, cache.version)
  t.true(calls.every((c) => c.thread === threadId), 'every call in the creating thread')
  t.is((await cache.stats()).resets, calls.length)
})

test('onReset is not called for the initial version, nor for resets after close', async (t) => {
  const { cache, calls } = await onResetCache(t, 'stats-on-reset-none')
  await cached(cache, 'k', () => 1)
  t.deepEqual(calls, [])
  await cache.close()
  await t.throwsAsync(reset(cache, 'late'), { name: 'CacheClosedError' })
  t.deepEqual(calls, [])
})
