// invalidate() and set() over a bus that loses and delays messages: each round of a change is
// sent again every heartbeat until every live peer confirms it, so once the call resolves no
// peer serves the key's old value, however many of the messages were lost or overtaken.
import test from 'ava'
import { cached, createCache, invalidate, memoryBus, set, type Cache } from 'coop-cache'

const PEERS = 3
const KEYS = Array.from({ length: 8 }, (_, i) => `k${i}`)

test('after invalidate or set resolves over a bus that drops a fifth of its messages and delays the rest, no peer serves the old value', async (t) => {
  const bus = memoryBus()
  const caches: Cache[] = []
  t.teardown(() => Promise.all(caches.map((c) => c.close())))
  for (let i = 0; i < PEERS; i++) caches.push(await createCache({ name: 'invalidate-faults', threads: 1, bus, heartbeat: 50, peerTimeout: 2000 }))
  await (caches[0] as Cache).ready({ peers: PEERS, timeout: 5000 })
  const served = (version: string) => Promise.all(caches.flatMap((c) => KEYS.map((k) => cached(c, k, () => `${k}@${version}`))))
  // every peer holds every key: stored by its owner, kept by the others
  t.deepEqual(await served('v0'), caches.flatMap(() => KEYS.map((k) => `${k}@v0`)))
  t.deepEqual(await served('v0'), caches.flatMap(() => KEYS.map((k) => `${k}@v0`)))
  bus.faults({ drop: 0.2, delay: 30 })
  const dropped = bus.dropped
  for (const [i, key] of KEYS.entries()) {
    const from = caches[i % PEERS] as Cache
    if (i % 2 === 0) await invalidate(from, key)
    else await set(from, key, `${key}@set`)
    // Asked right away in every peer, with the faults still on: never the old value.
    const now = await Promise.all(caches.map((c) => cached(c, key, () => `${key}@v1`)))
    t.deepEqual(
      now.filter((v) => v === `${key}@v0`),
      [],
      `${key}, ${i % 2 === 0 ? 'invalidated' : 'set'} from peer ${i % PEERS}: ${now.join(', ')}`,
    )
    if (i % 2 === 1) t.deepEqual(now, caches.map(() => `${key}@set`))
  }
  t.true(bus.dropped - dropped > 0, 'the bus did lose messages meanwhile')
})
