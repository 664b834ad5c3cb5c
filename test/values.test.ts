import test from 'ava'
import { cached, createCache } from 'coop-cache'
import { withCache } from './helpers/scene.js'
import { until } from './helpers/board.js'

// Small values travel as clones and large ones as bytes (over 16 KiB serialized): both must
// arrive in another thread exactly as they were computed.
const values: Record<string, unknown> = {
  number: 42.5,
  string: 'héllo ✓',
  bigint: 10n ** 30n,
  undefined: undefined,
  null: null,
  nested: { a: [1, { b: 'c' }], d: new Date(0), m: new Map([['k', new Set([1, 2])]]) },
  typed: new Float64Array([1.5, -2, Number.NaN]),
  'large bytes': new Uint8Array(100_000).map((_, i) => i % 251),
  'large string': 'x'.repeat(50_000),
  'large object': { rows: Array.from({ length: 2000 }, (_, i) => ({ i, name: `row ${i}` })) },
}

test('values of every shape and size arrive intact in another thread, from the store and from a computation', (t) =>
  withCache({ name: 'values', threads: 2 }, 1, async ({ cache, workers: [worker] }) => {
    for (const [name, value] of Object.entries(values)) {
      t.is(await cached(cache, name, () => value), value, `${name}: the computer gets its own value`)
    }
    // The worker's calls are owner hits; a second pass is served from its near copies.
    for (let pass = 0; pass < 2; pass++) {
      for (const [name, value] of Object.entries(values)) {
        const [got] = await worker!.cached(name, { value: 'must not compute' }).done
        t.deepEqual(got, { ok: true, value }, name)
      }
    }
    // the worker's near hits reach the shared counters at its next turn of the event loop
    const stats = await until(cache, (s) => s.nearHits === Object.keys(values).length)
    t.is(stats.computes, Object.keys(values).length)
  }))

test('waiters in other threads get a large value computed while they waited', (t) =>
  withCache({ name: 'values-wait', threads: 1 }, 1, async ({ cache, board, workers: [worker] }) => {
    const own = cached(cache, 'big', board.fn({ bytes: 300_000, gate: 0 }))
    await board.computations(1)
    const waiting = worker!.cached('big', { bytes: 1 }, 3)
    await until(cache, (stats) => stats.coalesced === 1)
    board.open(0)
    t.is(((await own) as Uint8Array).length, 300_000)
    for (const o of await waiting.done) t.true(o.ok && (o.value as Uint8Array).length === 300_000 && (o.value as Uint8Array)[299_999] === 7)
    t.is(board.computed, 1)
  }))

// Small plain data travels to its owner as itself, cloned by postMessage; a value that passes
// for plain data but that a clone refuses (a Proxy) must not strand the waiters of other threads.
test('a small value a clone refuses after all fails the waiters of other threads with ValueNotCloneableError', (t) =>
  withCache({ name: 'values-proxy', threads: 1 }, 1, async ({ cache, board, workers: [worker] }) => {
    let release!: () => void
    const own = cached(cache, 'proxy', async () => {
      await new Promise<void>((resolve) => (release = resolve))
      return new Proxy({ a: 1 }, {})
    })
    await until(cache, (stats) => stats.computes === 1)
    const waiting = worker!.cached('proxy', { value: 'must not compute' })
    await until(cache, (stats) => stats.coalesced === 1)
    release()
    t.deepEqual({ ...((await own) as object) }, { a: 1 }, 'the computer gets its own value')
    const [got] = await waiting.done
    t.like(got, { ok: false, name: 'ValueNotCloneableError', code: 'ERR_COOP_CACHE_NOT_CLONEABLE' })
    t.is(board.computed, 0)
    t.is((await cache.stats()).entries, 0)
  }))

// Deciding whether a value goes as itself looks through it, which runs its getters and a Proxy's
// traps: one that throws there must fail the call with ValueNotCloneableError like any value that
// cannot be shared, from fn returning it at once or from a promise, and bring nothing down.
test('a value whose getter or Proxy trap throws fails its calls with ValueNotCloneableError, and the cache goes on', async (t) => {
  const cache = await createCache({ name: 'values-throwing-getter', threads: 1 })
  t.teardown(() => cache.close())
  const getter = { get x(): number { throw new Error('a getter that throws') } }
  const proxy = new Proxy({}, { getPrototypeOf() { throw new Error('a trap that throws') } })
  const refused = { name: 'ValueNotCloneableError', code: 'ERR_COOP_CACHE_NOT_CLONEABLE' }
  t.like(await t.throwsAsync(cached(cache, 'getter, at once', () => getter)), refused)
  t.like(await t.throwsAsync(cached(cache, 'getter, from a promise', async () => getter)), refused)
  t.like(await t.throwsAsync(cached(cache, 'proxy, at once', () => proxy)), refused)
  t.like(await t.throwsAsync(cached(cache, 'proxy, from a promise', async () => proxy)), refused)
  t.is(await cached(cache, 'after', () => 'fine'), 'fine')
  t.like(await cache.stats(), { failures: 4, entries: 1 })
})
