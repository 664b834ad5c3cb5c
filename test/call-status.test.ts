// status.outcome says how a call's value came, on every path a value takes: computed by this
// call, coalesced on another's computation, a hit at the owner, a near copy, from another
// process, or stale within its grace.
import test from 'ava'
import { cached, createCache, type CallStatus, type Outcome } from 'coop-cache'
import { outcome, until } from './helpers/board.js'
import { eventuallyHeld, sleep } from './helpers/cluster.js'
import { peers } from './helpers/pair.js'
import { withCache } from './helpers/scene.js'

const mustNotRun = (): unknown => {
  throw new Error('fn must not run')
}

/** The value of a call and its status.outcome. */
async function call(...[cache, key, fn]: Parameters<typeof cached>): Promise<{ value: unknown; outcome: Outcome | undefined }> {
  const status: CallStatus = {}
  const value = await cached(cache, key, fn, { status })
  return { value, outcome: status.outcome }
}

test("the call whose fn ran is 'computed'; the calls that waited for it, in its thread or another, are 'coalesced'", (t) =>
  withCache({ name: 'status-computed', threads: 2 }, 1, async ({ cache, board, workers: [worker] }) => {
    const spec = { value: 'page', gate: 0 }
    const computer = call(cache, 'k', board.fn(spec))
    await board.computations(1)
    const joiner = call(cache, 'k', board.fn(spec))
    const remote = worker!.cached('k', spec, 2, { status: true })
    // the worker's request has joined the computation at the owner
    await until(cache, (stats) => stats.coalesced === 1)
    board.open(0)
    t.deepEqual(await computer, { value: 'page', outcome: 'computed' })
    t.deepEqual(await joiner, { value: 'page', outcome: 'coalesced' })
    t.deepEqual(await remote.done, [
      { ok: true, value: 'page', status: 'coalesced' },
      { ok: true, value: 'page', status: 'coalesced' },
    ])
    t.is(board.computed, 1)
  }),
)

test("a call computed in a worker thread is 'computed' there, and 'coalesced' for the main thread's waiter", (t) =>
  withCache({ name: 'status-worker', threads: 2 }, 1, async ({ cache, board, workers: [worker] }) => {
    const spec = { value: 'page', gate: 0 }
    const remote = worker!.cached('k', spec, 1, { status: true })
    await board.computations(1)
    const waiter = call(cache, 'k', board.fn(spec))
    // the main thread's request has joined the computation at the owner
    await until(cache, (stats) => stats.coalesced === 1)
    board.open(0)
    t.deepEqual(await remote.done, [{ ok: true, value: 'page', status: 'computed' }])
    t.deepEqual(await waiter, { value: 'page', outcome: 'coalesced' })
  }),
)

test("a stored value is a 'hit' at the owner, and with near copies a 'near' the next time", async (t) => {
  const noNear = await createCache({ name: 'status-hit', threads: 1, nearLimit: 0 })
  const near = await createCache({ name: 'status-near', threads: 1 })
  try {
    for (const cache of [noNear, near]) t.deepEqual(await call(cache, 'k', () => 'v'), { value: 'v', outcome: 'computed' })
    t.deepEqual(await call(noNear, 'k', mustNotRun), { value: 'v', outcome: 'hit' })
    t.deepEqual(await call(noNear, 'k', mustNotRun), { value: 'v', outcome: 'hit' })
    t.deepEqual(await call(near, 'k', mustNotRun), { value: 'v', outcome: 'hit' })
    t.deepEqual(await call(near, 'k', mustNotRun), { value: 'v', outcome: 'near' })
  } finally {
    await Promise.all([noNear.close(), near.close()])
  }
})

test("a value stored in another process, or computed there while this one waited, is 'remote'", async (t) => {
  // Not replicated: with copies in every process, the first call here may find the copy already
  // stored here, and that is a 'hit' (next test).
  const cluster = await peers(t, 'status-remote', 2, { replicas: 1 })
  const [here, there] = cluster.members as [(typeof cluster.members)[number], (typeof cluster.members)[number]]
  const [stored, computing] = cluster.keysOf(there, 2)
  t.deepEqual(await call(there.cache, stored!, there.board.fn({ value: 'there' })), { value: 'there', outcome: 'computed' })
  t.deepEqual(await call(here.cache, stored!, mustNotRun), { value: 'there', outcome: 'remote' })
  // computed in the other process while a caller here asks for it (whether its request lands
  // before the value is stored there or after, the value came from there)
  const computer = call(there.cache, computing!, there.board.fn({ value: 'later', gate: 0 }))
  await there.board.computations(2)
  const waiter = call(here.cache, computing!, mustNotRun)
  await sleep(200)
  there.board.open(0)
  t.deepEqual(await computer, { value: 'later', outcome: 'computed' })
  t.deepEqual(await waiter, { value: 'later', outcome: 'remote' })
  t.is(there.board.computed, 2)
})

test("a value computed in another process and replicated here is a 'hit': it is stored in this process", async (t) => {
  const cluster = await peers(t, 'status-replica', 2, { replicas: 'all', nearLimit: 0 })
  const [here, there] = cluster.members as [(typeof cluster.members)[number], (typeof cluster.members)[number]]
  const [key] = cluster.keysOf(there, 1)
  t.deepEqual(await call(there.cache, key!, there.board.fn({ value: 'there' })), { value: 'there', outcome: 'computed' })
  await eventuallyHeld(t, here.cache, [key!], 'the process that did not compute it')
  t.deepEqual(await call(here.cache, key!, mustNotRun), { value: 'there', outcome: 'hit' })
  t.is(there.board.computed, 1)
})

test("an expired value within its grace is 'stale' and served at once while it is computed again", async (t) => {
  const cache = await createCache({ name: 'status-stale', threads: 1, ttl: 200, grace: 60_000 })
  try {
    let made = 0
    const fn = async () => `v${++made}`
    t.deepEqual(await call(cache, 'k', fn), { value: 'v1', outcome: 'computed' })
    await sleep(400)
    t.deepEqual(await call(cache, 'k', fn), { value: 'v1', outcome: 'stale' })
    // the refresh in the background stores v2
    const end = Date.now() + 10_000
    let next = await call(cache, 'k', fn)
    while (next.value !== 'v2' && Date.now() < end) {
      await sleep(20)
      next = await call(cache, 'k', fn)
    }
    t.like(next, { value: 'v2' })
    t.true(next.outcome === 'hit' || next.outcome === 'near', `the refreshed value came as ${next.outcome}`)
    t.is(made, 2)
  } finally {
    await cache.close()
  }
})

test('a call that fails leaves its status unset', (t) =>
  withCache({ name: 'status-failed', threads: 1 }, 0, async ({ cache, board }) => {
    const status: CallStatus = {}
    t.like(await outcome(cached(cache, 'k', board.fn({ throws: 'no' }), { status })), { ok: false, message: 'no' })
    t.is(status.outcome, undefined)
  }),
)
