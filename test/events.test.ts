// The events on node:diagnostics_channel (src/events/): every channel the README lists carries
// what happened, with the cache's name, from a real cache — in the calling thread for calls and
// computations, in the creating thread for what the owners' threads do and for the cluster.
import test from 'ava'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { createCache, cached, invalidate, memoryBus, reset, set, type Cache } from 'coop-cache'
import { CHANNELS } from '../src/events/channels.js'

type Heard = Map<string, Record<string, unknown>[]>

/** Listens on every channel until the test ends; what each carried, by channel name. */
function listen(t: { teardown(fn: () => void): void }): Heard {
  const heard: Heard = new Map()
  for (const name of Object.values(CHANNELS)) {
    const onMessage = (message: unknown) => heard.set(name, [...(heard.get(name) ?? []), message as Record<string, unknown>])
    subscribe(name, onMessage)
    t.teardown(() => unsubscribe(name, onMessage))
  }
  return heard
}

const of = (heard: Heard, name: string) => heard.get(name) ?? []
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(what: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms
  while (!what() && Date.now() < end) await sleep(10)
  return what()
}

test.serial('calls publish hit or miss with how the value came, and computations their start and end with duration and outcome', async (t) => {
  const heard = listen(t)
  const cache = await createCache({ name: 'events-calls', threads: 1, nearLimit: 0 })
  t.teardown(() => cache.close())
  const slow = () => sleep(30).then(() => 'v')
  await Promise.all([cached(cache, 'k', slow), cached(cache, 'k', slow)])
  await cached(cache, 'k', slow)
  await t.throwsAsync(cached(cache, 'bad', () => Promise.reject(new Error('down'))))
  t.deepEqual(of(heard, CHANNELS.miss), [
    { cache: 'events-calls', key: '"k"', outcome: 'computed' },
    { cache: 'events-calls', key: '"k"', outcome: 'coalesced' },
  ])
  t.deepEqual(of(heard, CHANNELS.hit), [{ cache: 'events-calls', key: '"k"', outcome: 'hit' }])
  t.deepEqual(of(heard, CHANNELS.computeStart), [{ cache: 'events-calls', key: '"k"' }, { cache: 'events-calls', key: '"bad"' }])
  const [ok, failed] = of(heard, CHANNELS.computeEnd)
  t.like(ok, { cache: 'events-calls', key: '"k"', outcome: 'ok' })
  t.true((ok?.duration as number) >= 25, `a computation of 30 ms took ${String(ok?.duration)} ms`)
  t.like(failed, { key: '"bad"', outcome: 'error' })
  t.is((failed?.error as Error).message, 'down')
})

test.serial('a near hit is published as one, and a computation fenced by an invalidation ends "fenced"', async (t) => {
  const heard = listen(t)
  const cache = await createCache({ name: 'events-near', threads: 1 })
  t.teardown(() => cache.close())
  // computed here (no copy kept of one's own value), then a hit at the owner, which keeps a copy, then near
  for (let i = 0; i < 3; i++) await cached(cache, ['p', 1], () => 'v')
  t.deepEqual(of(heard, CHANNELS.hit), [
    { cache: 'events-near', key: '["p",1]', outcome: 'hit' },
    { cache: 'events-near', key: '["p",1]', outcome: 'near' },
  ])
  // One gate for every computation of the key: the fenced one and the one placed again after it.
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  const held = cached(cache, 'held', () => gate.then(() => 'old'))
  await until(() => of(heard, CHANNELS.computeStart).some((e) => e.key === '"held"'))
  await invalidate(cache, 'held')
  release()
  t.is(typeof (await held), 'string') // the call is served, by a new computation
  t.true(await until(() => of(heard, CHANNELS.computeEnd).some((e) => e.key === '"held"' && e.outcome === 'fenced')), JSON.stringify(of(heard, CHANNELS.computeEnd)))
  t.deepEqual(of(heard, CHANNELS.invalidate), [{ cache: 'events-near', key: '"held"', prefix: false, own: true }])
})

test.serial("the owners' store, reject and evict reach the creating thread's channels once it has subscribers", async (t) => {
  const heard = listen(t)
  // Room for one entry of a 200-character string (about 450 bytes, 500 under 'evict': the
  // string, the key, and the entry's own, store.ts ENTRY and RECENCY), not for two.
  const evicting = await createCache({ name: 'events-evict', threads: 1, memoryLimit: 800, policy: 'evict' })
  const rejecting = await createCache({ name: 'events-reject', threads: 1, memoryLimit: 800 })
  t.teardown(() => Promise.all([evicting.close(), rejecting.close()]))
  await sleep(250) // the creating thread looks for subscribers every 100 ms
  const big = () => 'x'.repeat(200)
  await cached(evicting, 'a', big)
  await cached(evicting, 'b', big)
  await cached(rejecting, 'a', big)
  await cached(rejecting, 'b', big)
  t.true(await until(() => of(heard, CHANNELS.store).length >= 3 && of(heard, CHANNELS.evict).length >= 1 && of(heard, CHANNELS.reject).length >= 1))
  // Each cache's owner forwards on a channel of its own: in order for one cache, not across two.
  t.deepEqual(
    of(heard, CHANNELS.store).map((e) => `${String(e.cache)} ${String(e.key)}`).sort(),
    ['events-evict "a"', 'events-evict "b"', 'events-reject "a"'],
  )
  t.like(of(heard, CHANNELS.evict)[0], { cache: 'events-evict', key: '"a"' })
  t.like(of(heard, CHANNELS.reject)[0], { cache: 'events-reject', key: '"b"' })
  t.true((of(heard, CHANNELS.store)[0]?.bytes as number) > 200)
})

test.serial('resets, sets, peers joining and leaving and dropped bus messages are published in the creating thread', async (t) => {
  const heard = listen(t)
  const bus = memoryBus()
  const options = { name: 'events-cluster', threads: 1, bus, heartbeat: 50, peerTimeout: 500 }
  const a = await createCache(options)
  const b: Cache = await createCache(options)
  t.teardown(() => a.close())
  await a.ready({ peers: 2, timeout: 5000 })
  t.true(of(heard, CHANNELS.peerJoin).some((e) => e.cache === 'events-cluster' && e.peer === b.peer))
  await reset(a, 2)
  t.true(await until(() => of(heard, CHANNELS.reset).length >= 2))
  t.deepEqual(
    of(heard, CHANNELS.reset).map((e) => [e.version, e.own]).sort(),
    [[2, false], [2, true]],
    'the reset, in the process that made it and in its peer',
  )
  await set(a, 'k', 'v')
  t.deepEqual(of(heard, CHANNELS.set).map((e) => [e.key, e.own]).sort(), [['"k"', false], ['"k"', true]])
  const rogue = await bus.join('events-cluster', 'rogue', () => {})
  rogue.broadcast(new Uint8Array([1, 2, 3]))
  t.true(await until(() => of(heard, CHANNELS.dropped).length >= 2), 'each peer drops the junk')
  await b.close()
  t.true(await until(() => of(heard, CHANNELS.peerLeave).some((e) => e.peer === b.peer)))
  await rogue.leave()
})
