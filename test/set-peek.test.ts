// peek/has and set: peek and has look at what this process holds and never compute or wait;
// set stores a value as if it had been computed, in every thread and every peer, and fences a
// computation of its key under way, whose waiters get the set value instead.
import test, { type ExecutionContext } from 'ava'
import { CacheClosedError, ValueNotCloneableError, cached, createCache, has, peek, set, type CallStatus } from 'coop-cache'
import { outcome } from './helpers/board.js'
import { brokerTest } from './helpers/brokers.js'
import { sleep, startCluster, within, type ClusterOptions } from './helpers/cluster.js'
import { withCache } from './helpers/scene.js'

// Asked before any test is declared: ava takes no declaration after the file's first tick.
const redisTest = await brokerTest('redis')

const mustNotRun = (): unknown => {
  throw new Error('fn must not run: the value was set')
}

test('peek and has neither compute nor wait for a computation in flight, and see its value once stored', (t) =>
  withCache({ name: 'peek-flight', threads: 2 }, 0, async ({ cache, board }) => {
    t.is(await peek(cache, 'cold'), undefined)
    t.false(await has(cache, 'cold'))
    // A computation held at its gate: peek and has answer at once, without waiting for it.
    const call = cached(cache, 'page', board.fn({ value: 'rendered', gate: 0 }))
    await board.computations(1)
    t.is(await within(peek(cache, 'page'), 5000, 'peek during a computation'), undefined)
    t.false(await within(has(cache, 'page'), 5000, 'has during a computation'))
    board.open(0)
    t.is(await call, 'rendered')
    t.is(await peek(cache, 'page'), 'rendered')
    t.true(await has(cache, 'page'))
    t.is(board.computed, 1)
    t.is((await cache.stats()).computes, 1)
  }),
)

test('peek and has see no expired value, in grace or not, near copy or not', async (t) => {
  const cache = await createCache({ name: 'peek-expired', threads: 1 })
  try {
    // a ttl long enough that a busy machine reaches the first checks before it ends
    await set(cache, 'short', 'a', { ttl: 2000 })
    await set(cache, 'graced', 'b', { ttl: 2000, grace: 60_000 })
    // a hit leaves this thread a near copy of each
    t.is(await cached(cache, 'short', mustNotRun), 'a')
    t.is(await cached(cache, 'graced', mustNotRun), 'b')
    t.is(await peek(cache, 'short'), 'a')
    t.true(await has(cache, 'graced'))
    await sleep(2300)
    t.is(await peek(cache, 'short'), undefined)
    t.false(await has(cache, 'short'))
    t.is(await peek(cache, 'graced'), undefined, 'a value within its grace has expired: peek does not serve it')
    t.false(await has(cache, 'graced'))
  } finally {
    await cache.close()
  }
})

test('a set value is served to every thread as a hit or a near copy, without computing', (t) =>
  withCache({ name: 'set-hit', threads: 2, nearLimit: 0 }, 2, async ({ cache, board, workers }) => {
    await set(cache, ['page', 1], { title: 'set' })
    t.deepEqual(await peek(cache, ['page', 1]), { title: 'set' })
    t.true(await has(cache, ['page', 1]))
    const status: CallStatus = {}
    t.deepEqual(await cached(cache, ['page', 1], mustNotRun, { status }), { title: 'set' })
    t.is(status.outcome, 'hit')
    for (const worker of workers) {
      t.deepEqual(await worker.cached(['page', 1], { throws: 'fn must not run' }, 3, { status: true }).done, [
        { ok: true, value: { title: 'set' }, status: 'hit' },
        { ok: true, value: { title: 'set' }, status: 'hit' },
        { ok: true, value: { title: 'set' }, status: 'hit' },
      ])
    }
    t.is(board.computed, 0)
    const stats = await cache.stats()
    t.is(stats.computes, 0)
    t.is(stats.stored, 1)
  }),
)

test('with near copies on, a thread that received a set value serves it again from its near copy', (t) =>
  withCache({ name: 'set-near', threads: 1 }, 1, async ({ cache, board, workers: [worker] }) => {
    await set(cache, 'k', 'set value')
    const outcomes = [...(await worker!.cached('k', { throws: 'fn must not run' }, 1, { status: true }).done), ...(await worker!.cached('k', { throws: 'fn must not run' }, 1, { status: true }).done)]
    t.deepEqual(outcomes, [
      { ok: true, value: 'set value', status: 'hit' },
      { ok: true, value: 'set value', status: 'near' },
    ])
    t.is(board.computed, 0)
  }),
)

test('set during a computation of its key: every waiter in every thread gets the set value, the computation is fenced and its result never used', (t) =>
  withCache({ name: 'set-race', threads: 2 }, 2, async ({ cache, board, workers }) => {
    // The computation runs in the main thread, held at its gate; callers of this thread and of
    // two others wait for it.
    const spec = { value: 'computed', gate: 0 }
    let returned!: () => void
    const fnReturned = new Promise<void>((resolve) => (returned = resolve))
    const computer = outcome(cached(cache, 'k', (ctx) => board.fn(spec)(ctx).finally(returned)))
    await board.computations(1)
    const joiners = Array.from({ length: 5 }, () => outcome(cached(cache, 'k', board.fn(spec))))
    const remote = workers.map((w) => w.cached('k', spec, 5))
    await Promise.all(remote.map((r) => r.issued))
    await set(cache, 'k', 'set')
    // the fenced computation is told while it still runs
    await within(board.abortions(1), 10_000, 'the fenced computation to see its signal abort')
    const before = [await computer, ...(await Promise.all(joiners)), ...(await Promise.all(remote.map((r) => r.done))).flat()]
    t.is(before.length, 1 + 5 + 10)
    t.deepEqual(new Set(before.map((o) => (o.ok ? o.value : o.message))), new Set(['set']))
    // the fenced computation ends: its result reaches nobody, and is not stored
    board.open(0)
    await fnReturned
    // what the computer's thread did with the result has reached the owners
    await cache.stats()
    t.is(await peek(cache, 'k'), 'set')
    t.is(await cached(cache, 'k', mustNotRun), 'set')
    t.deepEqual(await workers[0]!.cached('k', { throws: 'fn must not run' }).done, [{ ok: true, value: 'set' }])
    t.is(board.computed, 1)
    t.is(board.aborted, 1)
    t.is((await cache.stats()).stored, 1)
  }),
)

test('set during a computation in another thread fences it there too', (t) =>
  withCache({ name: 'set-race-worker', threads: 2 }, 1, async ({ cache, board, workers: [worker] }) => {
    const spec = { value: 'computed', gate: 0 }
    const remote = worker!.cached('k', spec, 3)
    await remote.issued
    await board.computations(1)
    const local = outcome(cached(cache, 'k', board.fn(spec)))
    await set(cache, 'k', 'set')
    await within(board.abortions(1), 10_000, 'the fenced computation to see its signal abort')
    t.deepEqual(await local, { ok: true, value: 'set' })
    t.deepEqual(await remote.done, Array.from({ length: 3 }, () => ({ ok: true, value: 'set' })))
    // nothing to wait on in the worker: give its fenced computation time to end, and offer
    board.open(0)
    await sleep(200)
    t.is(await cached(cache, 'k', mustNotRun), 'set')
    t.is(board.computed, 1)
  }),
)

test('set refuses bad keys, bad options, uncloneable values and values larger than memoryLimit', async (t) => {
  const cache = await createCache({ name: 'set-misuse', threads: 1, memoryLimit: 10_000 })
  try {
    await t.throwsAsync(set(cache, { f: () => 1 } as never, 1), { instanceOf: TypeError, message: /key\.f/ })
    await t.throwsAsync(set(cache, 'k', { render: () => 'x' }), { instanceOf: ValueNotCloneableError, code: 'ERR_COOP_CACHE_NOT_CLONEABLE' })
    await t.throwsAsync(set(cache, 'k', 'x'.repeat(20_000)), { instanceOf: RangeError, message: /memoryLimit \(10000\)/ })
    await t.throwsAsync(set(cache, 'k', 1, { ttl: -1 }), { instanceOf: TypeError, message: /options\.ttl/ })
    await t.throwsAsync(set(cache, 'k', 1, { grace: Number.NaN }), { instanceOf: TypeError, message: /options\.grace/ })
    await t.throwsAsync(set(cache, 'k', 1, 'long' as never), { instanceOf: TypeError, message: /options must be an object/ })
    await t.throwsAsync(peek(cache, [undefined] as never), { instanceOf: TypeError, message: /key\[0\]/ })
    await t.throwsAsync(has(cache, Symbol('k') as never), { instanceOf: TypeError })
    await t.throwsAsync(set({} as never, 'k', 1), { instanceOf: TypeError, message: /cache must be a cache/ })
    // nothing of it was stored, and the cache goes on
    t.false(await has(cache, 'k'))
    await set(cache, 'k', 'fine')
    t.is(await peek(cache, 'k'), 'fine')
    t.is((await cache.stats()).stored, 1)
  } finally {
    await cache.close()
  }
  await t.throwsAsync(set(cache, 'k', 1), { instanceOf: CacheClosedError })
  await t.throwsAsync(peek(cache, 'k'), { instanceOf: CacheClosedError })
  await t.throwsAsync(has(cache, 'k'), { instanceOf: CacheClosedError })
})

async function setAcross(t: ExecutionContext, bus: ClusterOptions['bus']): Promise<void> {
  const cluster = await startCluster(t, { bus, size: 3, callers: 1, name: `set-${bus}`, peerTimeout: 3000 })
  const [setter] = cluster.peers
  const key = ['page', 7]
  t.like(await setter!.do({ op: 'set', key, value: 'set value' }), { ok: true })
  // set resolves once every live peer has it: each holds it, and serves it without computing
  for (const peer of cluster.peers) t.deepEqual(await peer.do({ op: 'peek', key }), { value: 'set value', has: true }, `peer ${peer.index}`)
  const runs = await Promise.all(cluster.peers.map((p) => p.stampede([key], 5, { throws: 'fn must not run' }).done))
  for (const run of runs) t.deepEqual(run.results, [{ key, outcomes: Array.from({ length: 5 }, () => ({ ok: true, value: 'set value' })) }])
  t.is(await cluster.computed(), 0)
}

test.serial('set in one process reaches every process, on the memory bus', (t) => setAcross(t, 'memory'))
redisTest('set in one process reaches every process, on redis', (t) => setAcross(t, 'redis'))
