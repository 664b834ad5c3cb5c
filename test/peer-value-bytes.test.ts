// A value that came from a peer counts, against memoryLimit, the bytes it is: not the message it
// came in. The bus carries many messages in one envelope, and a value's bytes are read out of it
// as a view into the envelope (or into the bus client's larger read buffer): kept as such, a
// value of 1 KiB kept alive, and counted, the whole envelope around it.
import test, { type ExecutionContext } from 'ava'
import { cached, createCache, memoryBus, peek, type Cache, type MemoryBus } from 'coop-cache'
import { encodeKey } from '../src/shared/key.js'
import { peerOf } from '../src/shared/ring.js'
import { eventuallyHeld } from './helpers/cluster.js'

const MiB = 1024 * 1024
const VALUES = 64
const VALUE_BYTES = 1024

async function two(t: ExecutionContext, bus: MemoryBus, name: string, replicas: 1 | 'all'): Promise<[Cache, Cache]> {
  const options = { name: `${name}-${Date.now()}`, bus, threads: 1, memoryLimit: 64 * MiB, nearLimit: 0, heartbeat: 100, peerTimeout: 3000, replicas }
  const a = await createCache(options)
  t.teardown(() => a.close())
  const b = await createCache(options)
  t.teardown(() => b.close())
  await Promise.all([a.ready({ peers: 2, timeout: 5000 }), b.ready({ peers: 2, timeout: 5000 })])
  return [a, b]
}

/** Keys whose owner is `owner`'s process, among the two. */
function keysOf(owner: Cache, other: Cache, count: number): string[] {
  const members = [owner.peer!, other.peer!]
  const keys: string[] = []
  for (let i = 0; keys.length < count; i++) if (peerOf(encodeKey(`blob-${i}`), members) === owner.peer) keys.push(`blob-${i}`)
  return keys
}

/** Each key's value computed in `cache`, all in one turn: their messages share envelopes. */
const computeAll = (cache: Cache, keys: readonly string[]) => Promise.all(keys.map((key) => cached(cache, key, () => Buffer.alloc(VALUE_BYTES, key))))

test("a Buffer copied from a peer (replicas 'all') counts its own bytes, not the envelope it came in", async (t) => {
  const [a, b] = await two(t, memoryBus(), 'peer-bytes-copies', 'all')
  const keys = keysOf(a, b, VALUES)
  await computeAll(a, keys)
  t.deepEqual(await eventuallyHeld(t, b, keys, 'b, sent copies,'), [])
  const [here, there] = [await a.stats({ local: true }), await b.stats({ local: true })]
  t.is(there.entries, VALUES)
  t.true(there.bytes <= 1.1 * here.bytes, `the copies count ${there.bytes} bytes, the values where they were computed ${here.bytes}`)
  t.deepEqual(await peek(b, keys[0]!), Buffer.alloc(VALUE_BYTES, keys[0]!))
})

test('a Buffer fetched from its owner (replicas: 1) counts its own bytes, not the envelope it came in', async (t) => {
  const [a, b] = await two(t, memoryBus(), 'peer-bytes-fetched', 1)
  const keys = keysOf(a, b, VALUES)
  await computeAll(a, keys)
  // b's first calls, all at once: the answers come back together.
  const fetched = await computeAll(b, keys)
  t.deepEqual(fetched[0], Buffer.alloc(VALUE_BYTES, keys[0]!))
  const [here, there] = [await a.stats({ local: true }), await b.stats({ local: true })]
  t.is(there.computes, 0)
  t.is(there.entries, VALUES)
  t.true(there.bytes <= 1.1 * here.bytes, `the values fetched count ${there.bytes} bytes, where they were computed ${here.bytes}`)
})
