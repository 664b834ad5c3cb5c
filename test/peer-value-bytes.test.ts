// A value that came from a peer counts, against memoryLimit, the bytes it is: not the message it
// came in. The bus carries many messages in one envelope, and a value's bytes are read out of it
// as a view into the envelope (or into the bus client's larger read buffer): kept as such, a
// value of 1 KiB kept alive, and counted, the whole envelope around it.
import test from 'ava'
import { cached, peek, type Cache } from 'coop-cache'
import { eventuallyHeld } from './helpers/cluster.js'
import { peers, type Member } from './helpers/pair.js'

const MiB = 1024 * 1024
const VALUES = 64
const VALUE_BYTES = 1024

/** Two peers, near copies off: what each process holds is its owner's entries alone. */
const options = (replicas: 1 | 'all') => ({ memoryLimit: 64 * MiB, nearLimit: 0, heartbeat: 100, peerTimeout: 3000, replicas })

/** Each key's value computed in `cache`, all in one turn: their messages share envelopes. */
const computeAll = (cache: Cache, keys: readonly string[]) => Promise.all(keys.map((key) => cached(cache, key, () => Buffer.alloc(VALUE_BYTES, key))))

test("a Buffer copied from a peer (replicas 'all') counts its own bytes, not the envelope it came in", async (t) => {
  const cluster = await peers(t, 'peer-bytes-copies', 2, options('all'))
  const [owner, other] = cluster.members as [Member, Member]
  const [a, b] = [owner.cache, other.cache]
  const keys = cluster.keysOf(owner, VALUES, 'blob-')
  await computeAll(a, keys)
  t.deepEqual(await eventuallyHeld(t, b, keys, 'b, sent copies,'), [])
  const [here, there] = [await a.stats({ local: true }), await b.stats({ local: true })]
  t.is(there.entries, VALUES)
  t.true(there.bytes <= 1.1 * here.bytes, `the copies count ${there.bytes} bytes, the values where they were computed ${here.bytes}`)
  t.deepEqual(await peek(b, keys[0]!), Buffer.alloc(VALUE_BYTES, keys[0]!))
})

test('a Buffer fetched from its owner (replicas: 1) counts its own bytes, not the envelope it came in', async (t) => {
  const cluster = await peers(t, 'peer-bytes-fetched', 2, options(1))
  const [owner, other] = cluster.members as [Member, Member]
  const [a, b] = [owner.cache, other.cache]
  const keys = cluster.keysOf(owner, VALUES, 'blob-')
  await computeAll(a, keys)
  // b's first calls, all at once: the answers come back together.
  const fetched = await computeAll(b, keys)
  t.deepEqual(fetched[0], Buffer.alloc(VALUE_BYTES, keys[0]!))
  const [here, there] = [await a.stats({ local: true }), await b.stats({ local: true })]
  t.is(there.computes, 0)
  t.is(there.entries, VALUES)
  t.true(there.bytes <= 1.1 * here.bytes, `the values fetched count ${there.bytes} bytes, where they were computed ${here.bytes}`)
})
