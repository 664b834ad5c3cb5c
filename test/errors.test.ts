import test from 'ava'
import { createCache, cached, reset, attach, memoryBus, CacheClosedError, InvalidKeyError, type Key } from 'coop-cache'
import { withCache } from './helpers/scene.js'
import { Board, outcome, until } from './helpers/board.js'
import { callerThreads } from './helpers/callers.js'

test('bad keys are refused at the call with a TypeError that names the offending part', async (t) => {
  const cache = await createCache({ name: 'bad-keys', threads: 1 })
  try {
    const cases: [unknown, RegExp][] = [
      [undefined, /^key is undefined;/],
      [() => 1, /^key is a function;/],
      [Symbol('s'), /^key is a symbol;/],
      [['page', undefined], /^key\[1\] is undefined;/],
      [{ a: { b: new Map() } }, /^key\.a\.b is an instance of Map;/],
      [{ 'odd field': new Date(0) }, /^key\["odd field"\] is an instance of Date;/],
      [[1, , 3], /^key\[1\] is a hole in a sparse array;/],
    ]
    const cyclic: Record<string, unknown> = {}
    cyclic['self'] = cyclic
    cases.push([cyclic, /^key\.self is a reference back to an enclosing part \(a cycle\)/])
    for (const [key, message] of cases) {
      const error = await t.throwsAsync(cached(cache, key as Key, () => 1), { instanceOf: TypeError, message })
      t.true(error instanceof InvalidKeyError)
      t.is((error as InvalidKeyError).code, 'ERR_COOP_CACHE_INVALID_KEY')
    }
    // nothing was lost: the cache still serves
    t.is(await cached(cache, 'fine', () => 'ok'), 'ok')
  } finally {
    await cache.close()
  }
})

test('a value that cannot be cloned fails its computer and waiters with ValueNotCloneableError, and is not stored', (t) =>
  withCache({ name: 'uncloneable', threads: 1 }, 1, async ({ cache, board, workers: [worker] }) => {
    const own = outcome(cached(cache, 'widget', board.fn({ uncloneable: true, gate: 0 })))
    await board.computations(1)
    const waiting = worker!.cached('widget', { value: 'unused' }, 2)
    await until(cache, (stats) => stats.coalesced === 1)
    board.open(0)
    const outcomes = [await own, ...(await waiting.done)]
    for (const o of outcomes) t.like(o, { ok: false, name: 'ValueNotCloneableError', code: 'ERR_COOP_CACHE_NOT_CLONEABLE' })
    t.regex((outcomes[0] as { message: string }).message, /key "widget" cannot be shared with other callers/)
    t.like(await cache.stats(), { stored: 0, failures: 1 })
    t.is(await cached(cache, 'widget', () => 'plain data'), 'plain data')
  }),
)

test('calls after close reject with CacheClosedError in every thread, and pending calls are ended', async (t) => {
  const cache = await createCache({ name: 'closed', threads: 2 })
  const board = new Board()
  const [worker] = await callerThreads(cache, board, 1)
  try {
    const pendingHere = outcome(cached(cache, 'slow', board.fn({ gate: 0, value: 1 })))
    await board.computations(1)
    const pendingThere = worker!.cached('slow', { value: 2 }, 3)
    await pendingThere.issued
    await cache.close()
    t.like(await pendingHere, { ok: false, name: 'CacheClosedError', code: 'ERR_COOP_CACHE_CLOSED' })
    t.is(board.aborted, 1, "the computation's signal aborted when the cache closed under it")
    t.true((await pendingThere.done).every((o) => !o.ok && o.name === 'CacheClosedError'))
    await t.throwsAsync(cached(cache, 'x', () => 1), { instanceOf: CacheClosedError })
    await t.throwsAsync(reset(cache, 2), { instanceOf: CacheClosedError })
    t.like((await worker!.cached('x', { value: 1 }).done)[0], { ok: false, name: 'CacheClosedError' })
    board.open(0)
  } finally {
    await worker!.end()
  }
})

test("a thread's near copy is not served once the cache has closed, though the thread did not close it", async (t) => {
  const cache = await createCache({ name: 'closed-near', threads: 1 })
  const board = new Board()
  const [worker] = await callerThreads(cache, board, 1)
  try {
    t.like((await worker!.cached('held', { value: 1 }).done)[0], { ok: true, value: 1 })
    // The owner's answer leaves the worker a near copy, then served twice: checked at the first
    // hit, then taken as it is while nothing it depends on changes.
    t.like((await worker!.cached('held', { value: 2 }, 1, { status: true }).done)[0], { ok: true, value: 1, status: 'hit' })
    for (let i = 0; i < 2; i++) t.like((await worker!.cached('held', { value: 2 }, 1, { status: true }).done)[0], { ok: true, value: 1, status: 'near' })
    await cache.close()
    t.like((await worker!.cached('held', { value: 3 }).done)[0], { ok: false, name: 'CacheClosedError' })
  } finally {
    await worker!.end()
  }
})

test('an attached thread that closes ends its own calls only; the cache goes on for the others', (t) =>
  withCache({ name: 'detach', threads: 1 }, 1, async ({ cache, workers: [worker] }) => {
    t.like(await worker!.close(), { ok: true })
    t.like((await worker!.cached('k', { value: 1 }).done)[0], { ok: false, name: 'CacheClosedError' })
    t.is(await cached(cache, 'k', () => 'still open'), 'still open')
  }),
)

test('bad options are refused with a message that names the option', async (t) => {
  const bad: [unknown, RegExp][] = [
    [undefined, /^createCache\(options\): options must be an object/],
    [{}, /^options\.name must be a non-empty string$/],
    [{ name: 'x', memoryLimit: -1 }, /^options\.memoryLimit must be a positive integer \(bytes\), got -1$/],
    [{ name: 'x', memoryLimit: 1.5 }, /^options\.memoryLimit must be a positive integer \(bytes\), got 1\.5$/],
    [{ name: 'x', threads: 0 }, /^options\.threads must be a positive integer \(threads\), got 0$/],
    [{ name: 'x', computeTimeout: -5 }, /^options\.computeTimeout must be a non-negative integer/],
    [{ name: 'x', nearLimit: '1mb' }, /^options\.nearLimit must be a non-negative integer/],
    [{ name: 'x', policy: 'lru' }, /^options\.policy must be 'reject' or 'evict', got lru$/],
    [{ name: 'x', memoryLimt: 5 }, /^options\.memoryLimt is not an option of createCache/],
    [{ name: 'x', version: () => 1 }, /^options\.version must be a cloneable value/],
    [{ name: 'x', version: 'v'.repeat(5000) }, /^options\.version is \d+ bytes serialized, more than 4096/],
    [{ name: 'x', bus: 'nats://127.0.0.1' }, /^options\.bus must be a bus, such as memoryBus\(\)/],
    [{ name: 'x', bus: memoryBus(), heartbeat: 0 }, /^options\.heartbeat must be a positive integer \(ms\), got 0$/],
    [{ name: 'x', bus: memoryBus(), heartbeat: 500, peerTimeout: 600 }, /^options\.peerTimeout must be at least twice options\.heartbeat \(1000 ms\), got 600$/],
    [{ name: 'x', bus: memoryBus(), peerTimeout: 2 ** 31 }, /^options\.peerTimeout must be at most 2147483647 ms \(the longest a timer waits\), got 2147483648$/],
    [{ name: 'x', onReset: 'reload' }, /^options\.onReset must be a function, got string$/],
  ]
  for (const [options, message] of bad) {
    await t.throwsAsync(createCache(options as never), { message })
  }
})

test('misuse of the API gets a clear error', async (t) => {
  const cache = await createCache({ name: 'misuse', threads: 1 })
  try {
    await t.throwsAsync(cached(cache, 'k', 'not a function' as never), { instanceOf: TypeError, message: /fn must be a function, got string/ })
    await t.throwsAsync(cached({} as never, 'k', () => 1), { instanceOf: TypeError, message: /cache must be a cache from createCache\(\) or attach\(\)/ })
    await t.throwsAsync(reset(cache, Symbol('v')), { instanceOf: TypeError, message: /version must be a cloneable value/ })
    t.throws(() => attach({ kind: 'something else' } as never), { instanceOf: TypeError, message: /handle must be the `handle` of a cache/ })
    t.is(attach(cache.handle), cache, 'attaching in the creating thread gives the same cache')
    t.is(await cached(cache, 'k', () => 'fine'), 'fine')
  } finally {
    await cache.close()
  }
})
