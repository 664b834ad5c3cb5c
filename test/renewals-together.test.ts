// What keeping requests open costs the bus. A process asking another for thousands of keys at
// once (a cold stampede) keeps each request open until its value comes, renewing it: the
// renewal is the lease of a computation it runs for the owner, and how a lost message is made
// good. When each renewal went as a get of its own, answered by a wait, every heartbeat, 2,000
// requests open for 3 s were 30,000 messages to the owner (and as many back); under 20,000 keys
// the processes read their messages seconds late and computed keys twice. Renewals of one
// peer's requests now go together: one message per owner thread about four times a peer timeout.
//
// Real Redis, real caches (two in this process, with the library's own timing), a tap on the
// owner's channel counting what the asking process sends it.
import type {} from 'ava'
import { cached, createCache, type Cache } from 'coop-cache'
import { randomUUID } from 'node:crypto'
import { address } from '../src/bus/address.js'
import { redisBus } from '../src/bus/redis.js'
import { RENEW_MAX } from '../src/peer/wire.js'
import { Board } from './helpers/board.js'
import { brokerTest, brokerUrl } from './helpers/brokers.js'
import { within } from './helpers/cluster.js'
import { keysOwnedBy, seeEachOther } from './helpers/pair.js'
import { tap } from './helpers/tap.js'

const redisTest = await brokerTest('redis')

const KEYS = 2000
/** how long the asking process's computations are held open, ms */
const HELD = 3000
const HEARTBEAT = 200
const PEER_TIMEOUT = 2000

redisTest('renewing thousands of open requests to a peer costs a few messages, not one per request, and every lease still holds', async (t) => {
  const name = `renew-${randomUUID().slice(0, 8)}`
  const make = async (): Promise<Cache> => {
    const cache = await createCache({ name, bus: redisBus({ url: brokerUrl.redis }), threads: 2, heartbeat: HEARTBEAT, peerTimeout: PEER_TIMEOUT })
    t.teardown(() => cache.close())
    return cache
  }
  const [a, b] = [await make(), await make()]
  await seeEachOther(t, [a, b])
  const wire = await tap(t, 'redis', brokerUrl.redis, [address(name, a.peer as string)])
  const keys = keysOwnedBy(a, [a, b], KEYS, 'item-')
  // b asks a for every key; a hands each computation to b, whose fn is held at a gate: each
  // request stays open, and b renews it, for HELD ms.
  const board = new Board()
  const calls = keys.map((key) => cached(b, key, board.fn({ value: key, gate: 0 })))
  await within(board.computations(KEYS), 20_000, `b to start computing all ${KEYS} keys (${board.computed} did)`)
  const from = wire.heard.length
  await new Promise((resolve) => setTimeout(resolve, HELD))
  const sent = wire.heard.slice(from).filter(({ message }) => message?.f === b.peer)
  board.open(0)
  t.deepEqual(await within(Promise.all(calls), 20_000, 'the calls to end'), keys)
  const byType = new Map<string, number>()
  for (const { message } of sent) byType.set(String(message?.t), (byType.get(String(message?.t)) ?? 0) + 1)
  t.log(`b sent a, while ${KEYS} requests were open for ${HELD} ms: ${[...byType].map(([type, n]) => `${n} ${type}`).join(', ')}`)
  // The requests of each owner thread that are due at a heartbeat go in one message (two past
  // RENEW_MAX): at most 2 threads × 2 a heartbeat, each request about four times a peer timeout.
  // A get each every heartbeat, as before, was 2,000 × 15.
  const most = 2 * Math.ceil(KEYS / RENEW_MAX) * (Math.ceil(HELD / HEARTBEAT) + 1)
  t.true((byType.get('renew') ?? 0) <= most, `${byType.get('renew')} renewals in ${HELD} ms`)
  t.true(sent.length <= most + 10, `b sent a ${sent.length} messages in ${HELD} ms for ${KEYS} open requests`)
  t.is(byType.get('get'), undefined, 'no request was sent again whole: a had each')
  // The leases held: b computed each key, once, and a none.
  t.is(board.computed, KEYS)
  const stats = await Promise.all([a.stats({ local: true }), b.stats({ local: true })])
  t.is(stats[0].computes, 0)
  t.is(stats[1].computes, KEYS)
})
