// TTL: a value computed with a time to live is not served once it has expired — not from its
// owner's store, not from another process's copy, not from a thread's near copy — and is then
// computed again once in the whole cluster, however many callers ask at once. A call's ttl
// overrides the cache's; 0 means no expiry; a reset or an invalidation drops a value whatever
// it has left to live; and bad ttl values are refused where they are given.
//
// No assertion bounds how long anything takes: the tests wait until a value has surely expired
// (helpers/lifetimes.ts), and the values that must not expire live a minute.
import test, { type ExecutionContext } from 'ava'
import { cached, createCache, set, type CallStatus } from 'coop-cache'
import { brokerTest } from './helpers/brokers.js'
import { startCluster, within, type ClusterOptions, type Stampede } from './helpers/cluster.js'
import type { FnSpec } from './helpers/board.js'
import { heldFor, howsIn, openEverywhere, past, storeAtOwner, tally, valuesIn } from './helpers/lifetimes.js'
import { withCache } from './helpers/scene.js'
import { clockStep } from './helpers/clock-step.js'
import { sleep, startFaultPeers, type FaultPeer } from './helpers/fault-peers.js'

// Asked before any test is declared: ava takes no declaration after the file's first tick.
const natsTest = await brokerTest('nats')

const PROCESSES = 3
const CALLERS = 4
const CALLS = 5
const KEYS = ['rate-usd', 'rate-eur', 'rate-gbp']
/** a time to live no test outlasts */
const LONG = 60_000

async function expiredComputedOnce(t: ExecutionContext, bus: ClusterOptions['bus']): Promise<void> {
  const cluster = await startCluster(t, { bus, size: PROCESSES, callers: CALLERS, name: `ttl-${bus}`, peerTimeout: 3000 })
  const stampede = async (spec: FnSpec, ttl: number): Promise<Stampede[]> =>
    Promise.all(cluster.peers.map((p) => p.stampede(KEYS, CALLS, spec, { ttl }).done))
  // Long enough that the rounds below, made at once, are almost surely served before it expires.
  const ttl = 2000
  const start = Date.now()
  // One call per key, in its owner process, computes it (many calls could meet it expired on a
  // slow machine, and compute it again)...
  const { outcomes } = await storeAtOwner(cluster, KEYS, { value: 'v1' }, { ttl })
  t.deepEqual(outcomes, KEYS.map(() => ({ ok: true, value: 'v1', status: 'computed' })))
  // ...every caller thread of every process gets it, and keeps a near copy, which serves the next
  // round. (On a machine so slow that it expires meanwhile, their fn fails: nothing new is stored.)
  const stored = { value: 'not computed: v1 is stored', throws: 'v1 expired before the rounds were done' }
  await stampede(stored, ttl)
  const second = await stampede(stored, ttl)
  const secondDone = Date.now()
  if (secondDone < start + ttl) {
    t.deepEqual(valuesIn(second), new Set(['v1']))
    t.true((tally(second)['v1 near'] ?? 0) > 0, `near copies served: ${JSON.stringify(tally(second))}`)
  } else {
    t.log(`the calls ended after the value could have expired (${secondDone - start} ms): near copies not checked`)
  }
  // Whatever was stored in those rounds has expired once `ttl` has passed since.
  await past(secondDone, ttl)
  const before = await cluster.computed()
  // Every caller thread of every process asks at once; the computations are held until all of
  // them have started, so that the calls meet them. The new values live long: none expires here.
  const runs = cluster.peers.map((p) => p.stampede(KEYS, CALLS, { value: 'v2', gate: 0 }, { ttl: LONG }))
  await within(Promise.all(runs.map((r) => r.issued)), 20_000, 'every call after expiry to be made')
  await heldFor(cluster, before + KEYS.length, runs)
  await openEverywhere(cluster, 0)
  const third = await Promise.all(runs.map((r) => r.done))
  t.log(`after expiry: ${JSON.stringify(tally(third))}`)
  t.deepEqual(valuesIn(third), new Set(['v2']), 'no expired value, stored or near, was served')
  t.is(Object.values(tally(third)).reduce((a, b) => a + b, 0), PROCESSES * CALLERS * KEYS.length * CALLS)
  t.is((await cluster.computed()) - before, KEYS.length, 'each expired key computed again exactly once in the cluster')
}

const title = (bus: string) =>
  `an expired value is served by no process and no thread's near copy, and is computed again exactly once by ${PROCESSES} processes × ${CALLERS} caller threads asking at once, on ${bus}`

test.serial(title('the memory bus'), (t) => expiredComputedOnce(t, 'memory'))
natsTest(title('nats'), (t) => expiredComputedOnce(t, 'nats'))

/** Calls `key` once with `options`; what it got and how. */
async function call(cache: Parameters<typeof cached>[0], key: string, value: string, options: { ttl?: number } | undefined): Promise<string> {
  const status: CallStatus = {}
  const got = await cached(cache, key, async () => value, options === undefined ? { status } : { ...options, status })
  return `${String(got)} ${String(status.outcome)}`
}

test('a call’s ttl overrides the cache’s default, shorter or longer, and a call without one takes the default', async (t) => {
  const shortDefault = await createCache({ name: 'ttl-short-default', threads: 2, ttl: 300 })
  const longDefault = await createCache({ name: 'ttl-long-default', threads: 2, ttl: LONG })
  t.teardown(() => Promise.all([shortDefault.close(), longDefault.close()]))
  const asked = [
    { cache: shortDefault, key: 'longer', options: { ttl: LONG } },
    { cache: shortDefault, key: 'default', options: undefined },
    { cache: shortDefault, key: 'default, other options', options: {} },
    { cache: longDefault, key: 'shorter', options: { ttl: 300 } },
    { cache: longDefault, key: 'default', options: undefined },
  ]
  for (const { cache, key, options } of asked) t.is(await call(cache, key, 'first', options), 'first computed', key)
  await past(Date.now(), 300)
  const again = await Promise.all(asked.map(async ({ cache, key, options }) => `${cache.name} ${key}: ${await call(cache, key, 'second', options)}`))
  t.deepEqual(again.map((s) => s.replace(/ (near|hit)$/, ' kept')), [
    'ttl-short-default longer: first kept',
    'ttl-short-default default: second computed',
    'ttl-short-default default, other options: second computed',
    'ttl-long-default shorter: second computed',
    'ttl-long-default default: first kept',
  ])
})

test('ttl 0 means no expiry, for the cache and for a call', async (t) => {
  const none = await createCache({ name: 'ttl-zero', threads: 2, ttl: 0 })
  t.teardown(() => none.close())
  await withCache({ name: 'ttl-zero-call', threads: 2, ttl: 300 }, 1, async ({ cache: short, workers: [worker] }) => {
    t.is(await call(none, 'k', 'first', undefined), 'first computed')
    t.is(await call(short, 'k', 'first', { ttl: 0 }), 'first computed')
    await past(Date.now(), 600)
    t.regex(await call(none, 'k', 'second', undefined), /^first (near|hit)$/)
    t.regex(await call(short, 'k', 'second', { ttl: 0 }), /^first (near|hit)$/)
    // the owner still has it too, not only this thread's near copy: another thread's first call hits
    t.deepEqual(await worker!.cached('k', { value: 'second' }, 1, { ttl: 0 }).done, [{ ok: true, value: 'first', status: 'hit' }])
  })
})

async function notSoftened(t: ExecutionContext, change: 'reset' | 'invalidate'): Promise<void> {
  const cluster = await startCluster(t, { bus: 'memory', size: 2, callers: 2, name: `ttl-${change}`, peerTimeout: 3000 })
  const [a, b] = cluster.peers
  const round = (value: string) => Promise.all(cluster.peers.map((p) => p.stampede(KEYS, 3, { value }, { ttl: LONG }).done))
  t.deepEqual(valuesIn(await round('before')), new Set(['before']))
  // stored in both processes, and near copies in every caller thread
  t.deepEqual(valuesIn(await round('not computed')), new Set(['before']))
  const computed = await cluster.computed()
  const done = change === 'reset' ? await a!.reset(2) : await Promise.all(KEYS.map((key) => b!.do({ op: 'invalidate', key })))
  t.deepEqual([done].flat().filter((outcome) => !outcome.ok), [], `${change} resolved`)
  const after = await round('after')
  t.deepEqual(valuesIn(after), new Set(['after']), `after ${change}: ${JSON.stringify(tally(after))}`)
  t.false(howsIn(after).has('near'), 'no near copy from before')
  t.is((await cluster.computed()) - computed, KEYS.length)
}

test.serial('after a reset, a value with a minute left to live is never served, by any process or thread', (t) => notSoftened(t, 'reset'))
test.serial('after an invalidation, a value with a minute left to live is never served, by any process or thread', (t) => notSoftened(t, 'invalidate'))

// A value's instants are on a clock that only goes forward (src/shared/clock.ts): on the wall
// clock, a step back of a minute would keep every value a minute past its time to live.
test.serial('a value is not served past its time to live when the wall clock steps back', async (t) => {
  const ttl = 500
  const back = clockStep(t, -60_000)
  const { peers: [p] } = await startFaultPeers(t, { bus: 'ipc', size: 1, name: 'ttl-clock', each: () => ({ ttl }), clock: () => back })
  const peer = p as FaultPeer
  const first = await peer.do({ op: 'call', key: 'quote' })
  t.true(first.own)
  t.false((await peer.do({ op: 'call', key: 'quote' })).own, 'the value is kept while it lives')
  await back.step(async () => (await peer.do({ op: 'state' })).clock)
  await sleep(first.end + ttl + 200 - Date.now())
  const later = await peer.do({ op: 'call', key: 'quote' })
  t.true(later.own, `served ${later.start - (first.value?.end ?? 0)} ms after it was computed, with a ttl of ${ttl} ms`)
})

const BAD = [-1, NaN, Infinity, '100', null, true]

test('bad ttl and grace values are refused with a TypeError that names the option: at createCache, per call, and by set', async (t) => {
  for (const option of ['ttl', 'grace']) {
    for (const bad of [...BAD, 1.5]) {
      await t.throwsAsync(createCache({ name: 'ttl-bad', threads: 1, [option]: bad }), { instanceOf: TypeError, message: new RegExp(`options\\.${option}\\b`) }, `createCache ${option}: ${String(bad)}`)
    }
  }
  const cache = await createCache({ name: 'ttl-bad-calls', threads: 1 })
  t.teardown(() => cache.close())
  let ran = 0
  for (const option of ['ttl', 'grace']) {
    for (const bad of BAD) {
      const options = { [option]: bad } as { ttl?: number; grace?: number }
      await t.throwsAsync(cached(cache, 'k', async () => ++ran, options), { instanceOf: TypeError, message: new RegExp(`options\\.${option}\\b`) }, `cached ${option}: ${String(bad)}`)
      await t.throwsAsync(set(cache, 'k', 'v', options), { instanceOf: TypeError, message: new RegExp(`options\\.${option}\\b`) }, `set ${option}: ${String(bad)}`)
    }
  }
  t.is(ran, 0, 'no refused call computed')
  // and nothing was stored by a refused set: the cache is fine
  t.is(await cached(cache, 'k', async () => 'good', { ttl: 1000, grace: 1000 }), 'good')
})
