// A new owner thread rehearses its request path on memory of its own before it listens
// (src/owner/rehearsal.ts), so that the first stampede on a cache just made is not served by
// cold code. The rehearsal must leave no trace in the cache: no counter moved, nothing stored,
// no byte reserved, no event published; and the cache must then work as any other.
import test from 'ava'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { cached, createCache } from 'coop-cache'
import { CHANNELS } from '../src/events/channels.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test("an owner's rehearsal leaves the cache untouched: no counter, entry, byte or event", async (t) => {
  const heard: string[] = []
  const listeners = Object.values(CHANNELS).map((name) => {
    const onMessage = () => heard.push(name)
    subscribe(name, onMessage)
    return () => unsubscribe(name, onMessage)
  })
  t.teardown(() => listeners.forEach((stop) => stop()))
  const cache = await createCache({ name: 'owner-rehearsal', threads: 2 })
  t.teardown(() => cache.close())
  // Long enough for an owner's events to be forwarded (their flag is refreshed every 100 ms).
  await sleep(300)
  const stats = await cache.stats()
  for (const counter of ['hits', 'misses', 'computes', 'coalesced', 'stored', 'rejected', 'evicted', 'failures', 'entries', 'bytes', 'nearHits', 'nearBytes', 'dropped', 'resets'] as const) {
    t.is(stats[counter], 0, counter)
  }
  t.deepEqual(heard, [], 'no event')

  // And the cache is an ordinary one: a stampede computes each key once, and counts it.
  let computed = 0
  const values = await Promise.all(Array.from({ length: 200 }, (_, i) => cached(cache, `k${i % 20}`, async () => {
    computed++
    await sleep(5)
    return i % 20
  })))
  t.deepEqual(values, Array.from({ length: 200 }, (_, i) => i % 20))
  t.is(computed, 20)
  const after = await cache.stats()
  t.like(after, { misses: 200, computes: 20, coalesced: 180, stored: 20, entries: 20 })
})
