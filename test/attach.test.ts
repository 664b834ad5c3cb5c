// attach() takes a handle as cache.handle made it, and nothing else (issue 7, finding 2d: a handle
// with another cache's id attached, and its cached() hung). A handle whose id or shared memory
// was changed, or anything that is not a handle, is refused at the call, synchronously, with a
// TypeError that says what is wrong; a handle that attaches gives a cache whose calls settle.
// The same handle attached twice in a thread is one cache.
import test, { type ExecutionContext } from 'ava'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { attach, cached, createCache, type Cache } from 'coop-cache'
import type { Outcome } from './helpers/board.js'
import { within } from './helpers/cluster.js'
import type { AttachResult, AttachTry } from './fixtures/attach-tries.js'

const MISUSE = 'attach(handle): handle must be the `handle` of a cache (cache.handle), passed to this thread unchanged'
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
/** The message of a refusal: the misuse, and then what is wrong with this handle. */
const refused = (what?: string) => new RegExp(`^${escape(MISUSE)}${what === undefined ? '$' : escape(`: ${what}`)}`)

interface Tampered extends AttachTry {
  readonly message: RegExp
}

async function twoCaches(t: ExecutionContext): Promise<[Cache, Cache]> {
  const [a, b] = await Promise.all([createCache({ name: 'attach-a', threads: 1 }), createCache({ name: 'attach-b', threads: 1 })])
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  return [a, b]
}

/** Handles that are not `a.handle` as it was made, and what attach() must say of each. */
function tampered(a: Cache, b: Cache): Tampered[] {
  const mismatch = (id: string) => refused(`its id ${JSON.stringify(id)} is not the id of the cache its shared memory belongs to`)
  return [
    { name: "another cache's id", handle: { ...a.handle, id: b.handle.id }, message: mismatch(b.handle.id) },
    { name: 'a made-up id', handle: { ...a.handle, id: 'made-up' }, message: mismatch('made-up') },
    { name: "another cache's shared memory", handle: { ...a.handle, shared: b.handle.shared }, message: mismatch(a.handle.id) },
    { name: 'shared memory that is no cache\'s', handle: { ...a.handle, shared: new SharedArrayBuffer(1024) }, message: refused("its shared memory is not a cache's") },
    {
      name: 'blank shared memory of the right size',
      handle: { ...a.handle, shared: new SharedArrayBuffer(a.handle.shared.byteLength) },
      message: refused("its shared memory is not a cache's"),
    },
    { name: 'an ArrayBuffer for shared memory', handle: { ...a.handle, shared: new ArrayBuffer(8) }, message: refused() },
    { name: 'a negative nearLimit', handle: { ...a.handle, nearLimit: -1 }, message: refused('its nearLimit is not a count') },
    { name: 'a memoryLimit that is no number', handle: { ...a.handle, memoryLimit: '64MB' }, message: refused('its memoryLimit is not a count') },
    { name: 'an id that is no string', handle: { ...a.handle, id: 42 }, message: refused() },
    { name: 'another kind', handle: { ...a.handle, kind: 'other-cache' }, message: refused() },
    { name: 'a handle that went through JSON', handle: JSON.parse(JSON.stringify(a.handle)), message: refused() },
    { name: 'null', handle: null, message: refused() },
    { name: 'undefined', handle: undefined, message: refused() },
    { name: 'a number', handle: 42, message: refused() },
    { name: "the cache's name", handle: a.name, message: refused() },
    { name: 'an empty object', handle: {}, message: refused() },
  ]
}

/** Every case refused with a TypeError saying what it must: otherwise, what went wrong with it. */
function checkRefusals(t: ExecutionContext, cases: readonly Tampered[], results: readonly AttachResult[]): void {
  const problems = cases.flatMap(({ name, message }, i) => {
    const result = results[i]
    if (result === undefined) return [`${name}: not tried`]
    if ('call' in result) return [`${name}: attach() returned a cache (a call on it ${result.call === 'hung' ? 'hung' : `ended with ${JSON.stringify(result.call)}`})`]
    if (result.threw.name !== 'TypeError' || !message.test(result.threw.message)) return [`${name}: ${result.threw.name}: ${result.threw.message}`]
    return []
  })
  t.deepEqual(problems, [], 'each must be refused with a TypeError that says what is wrong')
}

/** What the attach-tries worker sends first: each try, then its own handle attached twice. */
interface FirstReport {
  readonly results: AttachResult[]
  readonly twice: boolean
  readonly call: Outcome | 'hung'
}

test('in a thread that attached nothing yet, a changed handle or something else is refused with a TypeError that says what is wrong', async (t) => {
  const [a, b] = await twoCaches(t)
  const closed = await createCache({ name: 'attach-closed', threads: 1 })
  await closed.close()
  const cases = tampered(a, b)
  const tries: AttachTry[] = [...cases.map(({ name, handle }) => ({ name, handle })), { name: "a closed cache's handle", handle: closed.handle }]
  const worker = new Worker(new URL('./fixtures/attach-tries.js', import.meta.url), { workerData: { tries, cache: a.handle } })
  t.teardown(() => worker.terminate())
  const [report] = (await within(once(worker, 'message'), 20_000, 'the worker to try every handle')) as [FirstReport]
  checkRefusals(t, cases, report.results.slice(0, cases.length))
  // A closed cache's own handle is a handle: it attaches, and its calls reject at once.
  t.like(report.results[cases.length], { name: "a closed cache's handle", call: { ok: false, name: 'CacheClosedError' } })
})

test('in a thread where the caches are open, a handle with another cache\'s id or memory is refused, not taken for the open cache', async (t) => {
  const [a, b] = await twoCaches(t)
  const cases = tampered(a, b)
  const results: AttachResult[] = cases.map(({ name, handle }) => {
    try {
      const cache = attach(handle as Cache['handle'])
      return { name, call: { ok: true, value: cache === a ? 'cache a' : cache === b ? 'cache b' : 'a new cache' } }
    } catch (error) {
      return { name, threw: { name: (error as Error).name, message: (error as Error).message } }
    }
  })
  checkRefusals(t, cases, results)
  // The cache itself is not its handle.
  t.throws(() => attach(a as never), { instanceOf: TypeError, message: refused() })
  // The cache is still whole.
  t.is(await cached(a, 'k', () => 'a'), 'a')
  t.is(await cached(b, 'k', () => 'b'), 'b')
})

test('the same handle attached twice in a thread, or received twice, is one cache', async (t) => {
  const cache = await createCache({ name: 'attach-twice', threads: 1 })
  t.teardown(() => cache.close())
  t.is(attach(cache.handle), cache, 'in the creating thread, attach() gives the cache itself')
  t.is(attach(structuredClone(cache.handle)), cache, 'a clone of the handle too')
  const worker = new Worker(new URL('./fixtures/attach-tries.js', import.meta.url), { workerData: { tries: [], cache: cache.handle } })
  t.teardown(() => worker.terminate())
  const [first] = (await within(once(worker, 'message'), 20_000, 'the worker to attach')) as [FirstReport]
  t.true(first.twice, 'attach(handle) twice gives one cache')
  t.deepEqual(first.call, { ok: true, value: 'twice computed' })
  // The handle again, in a message: a new SharedArrayBuffer object over the same memory.
  worker.postMessage(cache.handle)
  const [again] = (await within(once(worker, 'message'), 5000, 'the worker to attach again')) as [{ same: boolean; call: unknown }]
  t.true(again.same, 'the handle received again gives the same cache')
  t.deepEqual(again.call, { ok: true, value: 'again computed' })
  // One cache: what the worker computed is a hit here.
  t.is(await cached(cache, 'twice', () => 'must not compute'), 'twice computed')
})
