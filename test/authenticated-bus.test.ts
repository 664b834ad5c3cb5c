// With a `secret`, a message on the bus has an effect only if one of the cluster's processes sent
// it, once: anyone else who can publish on the cache's channel — forging a reset, answering gets
// with values of their choosing, beating as a phantom member, replaying what peers sent — is
// refused and counted, and changes nothing. Without one, a cache on a broker says so once.
import test, { type ExecutionContext } from 'ava'
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { deserialize, serialize } from 'node:v8'
import { Redis } from 'ioredis'
import { connect } from '@nats-io/transport-node'
import { cached, createCache, memoryBus, reset, type Bus, type Cache } from 'coop-cache'
import { address } from '../src/bus/address.js'
import { natsBus } from '../src/bus/nats.js'
import { redisBus } from '../src/bus/redis.js'
import { encodeKey } from '../src/shared/key.js'
import type { Stamp } from '../src/shared/memory/epoch.js'
import { Seal, WIRE_VERSION, unchecked } from '../src/peer/seal.js'
import { outcome } from './helpers/board.js'
import { brokerTest, brokerUrl } from './helpers/brokers.js'
import { eventually, within } from './helpers/cluster.js'
import { peers } from './helpers/pair.js'
import { Rogue } from './helpers/rogue.js'

const natsTest = await brokerTest('nats')
const redisTest = await brokerTest('redis')

const SECRET = 'a secret of the cluster, 32 bytes'
const WRONG = 'a secret of someone else entirely'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const dropped = async (cache: Cache) => (await cache.stats({ local: true })).dropped

/** The messages a listener hears on the topic, as raw bytes and as the payload they carry. */
async function tap(t: ExecutionContext, bus: Bus, name: string): Promise<{ raw: Uint8Array; message: Record<string, unknown> }[]> {
  const heard: { raw: Uint8Array; message: Record<string, unknown> }[] = []
  const member = await bus.join(name, `tap-${randomBytes(4).toString('hex')}`, (raw) => {
    const payload = unchecked(raw)
    if (payload !== undefined) heard.push({ raw: new Uint8Array(raw), message: deserialize(payload) as Record<string, unknown> })
  })
  t.teardown(() => member.leave())
  return heard
}

test.serial('with a secret, a reset forged without it (unsigned, or signed with another key) changes no peer and is counted', async (t) => {
  const cluster = await peers(t, 'auth-reset', 2, { secret: SECRET, version: 'v1' })
  const [a, b] = cluster.members as [(typeof cluster.members)[number], (typeof cluster.members)[number]]
  const before = await Promise.all([dropped(a.cache), dropped(b.cache)])
  for (const secret of [[], [WRONG]]) {
    const rogue = await Rogue.join(cluster.bus, cluster.name, { secret })
    rogue.broadcast({ t: 'reset', s: { clock: 1000, origin: rogue.id, born: 0 }, v: serialize('EVIL') })
    rogue.broadcast({ t: 'reset', s: { clock: 1001, origin: a.cache.peer as string, born: 0 } as Stamp, v: serialize('EVIL') }, { f: a.cache.peer as string })
    await rogue.leave()
  }
  await eventually(t, () => 'both peers to count the four forgeries', async () => (await dropped(a.cache)) >= (before[0] as number) + 4 && (await dropped(b.cache)) >= (before[1] as number) + 4)
  await sleep(200)
  t.deepEqual([a.cache.version, b.cache.version], ['v1', 'v1'])
  t.deepEqual([a.resets, b.resets], [[], []])
  // and the cluster's own resets still go everywhere
  await reset(b.cache, 'v2')
  t.deepEqual([a.cache.version, b.cache.version], ['v2', 'v2'])
})

test.serial('with a secret, answers forged for a real request are refused: the caller gets the value its owner computed, and nothing forged is stored', async (t) => {
  const cluster = await peers(t, 'auth-value', 2, { secret: SECRET, nearLimit: 0 })
  const [a, b] = cluster.members as [(typeof cluster.members)[number], (typeof cluster.members)[number]]
  const keys = cluster.keysOf(a, 10)
  // The rogue joins under a's id, so it hears every get b sends a, and answers first.
  const rogue = await Rogue.join(cluster.bus, cluster.name, { id: a.cache.peer as string, secret: [WRONG] })
  t.teardown(() => rogue.leave())
  let answered = 0
  const answer = setInterval(() => {
    for (const get of rogue.of('get').splice(0)) {
      const { s, o, i, r, k } = get as { s: Stamp; o: number; i: string; r: number; k: string }
      rogue.send(b.cache.peer as string, { t: 'value', s, o, i, r, k, v: serialize('POISON'), h: true }, { f: a.cache.peer as string })
      rogue.send(b.cache.peer as string, { t: 'compute', s, o, i, r, k, tk: 1 }, { f: a.cache.peer as string })
      answered++
    }
  }, 1)
  t.teardown(() => clearInterval(answer))
  const first = await Promise.all(keys.map((key) => cached(b.cache, key, async () => `computed in b: ${key}`)))
  t.true(answered > 0, 'the rogue answered gets')
  t.deepEqual(first.filter((v) => v === 'POISON'), [])
  const again = await Promise.all(keys.map((key) => cached(b.cache, key, async () => 'computed again')))
  t.deepEqual(again, first)
  t.deepEqual(await Promise.all(keys.map((key) => cached(a.cache, key, async () => 'computed again'))), first)
  t.true((await dropped(b.cache)) >= answered)
})

test.serial('with a secret, a phantom member that beats without it never joins, so no key waits on it', async (t) => {
  const cluster = await peers(t, 'auth-phantom', 2, { secret: SECRET })
  const [a, b] = cluster.members as [(typeof cluster.members)[number], (typeof cluster.members)[number]]
  const rogue = await Rogue.join(cluster.bus, cluster.name, { secret: [WRONG] })
  t.teardown(() => rogue.leave())
  const beat = () => rogue.broadcast({ t: 'beat', s: { clock: 1, origin: rogue.id, born: 1 }, v: serialize(0), n: Array(14).fill(0), host: 'phantom', pid: 1, hb: 50, pto: 1000 })
  const beating = setInterval(beat, 25)
  t.teardown(() => clearInterval(beating))
  await sleep(300)
  t.deepEqual(await Promise.all([a, b].map(async (p) => (await p.cache.stats({ local: true })).peers)), [2, 2])
  const keys = Array.from({ length: 30 }, (_, i) => `phantom-${i}`)
  const values = await within(Promise.all(keys.map((key) => cached(a.cache, key, async () => key))), 3000, 'calls while the phantom beats')
  t.deepEqual(values, keys)
})

test.serial("with a secret, a member's own signed messages replayed after it left are refused: it does not come back", async (t) => {
  const cluster = await peers(t, 'auth-replay', 3, { secret: SECRET })
  const [a, b, c] = cluster.members as [(typeof cluster.members)[number], (typeof cluster.members)[number], (typeof cluster.members)[number]]
  const heard = await tap(t, cluster.bus, cluster.name)
  await sleep(300)
  const fromC = heard.filter(({ message }) => message.f === c.cache.peer && message.t === 'beat').map(({ raw }) => raw)
  t.true(fromC.length > 0)
  await c.cache.close()
  await eventually(t, () => 'a and b to see c gone', async () => (await Promise.all([a, b].map(async (p) => (await p.cache.stats({ local: true })).peers))).every((n) => n === 2))
  const before = await Promise.all([dropped(a.cache), dropped(b.cache)])
  const replayer = await cluster.bus.join(cluster.name, 'replayer', () => {})
  t.teardown(() => replayer.leave())
  for (let round = 0; round < 5; round++) {
    for (const raw of fromC) replayer.broadcast(raw)
    await sleep(60)
  }
  t.deepEqual(await Promise.all([a, b].map(async (p) => (await p.cache.stats({ local: true })).peers)), [2, 2])
  const after = await Promise.all([dropped(a.cache), dropped(b.cache)])
  t.true(after.every((n, i) => n >= (before[i] as number) + 5 * fromC.length), `${before} → ${after}`)
  // the two go on as a cluster: each key computed once between them
  const values = await Promise.all(['x', 'y', 'z'].flatMap((key) => [a, b].map((p) => cached(p.cache, key, async () => `${key} by ${p.cache.peer}`))))
  t.is(new Set(values).size, 3)
})

test.serial('keys rotate: peers with [old, new] and [new, old] hear each other; messages signed with neither are refused', async (t) => {
  const bus = memoryBus()
  const name = `auth-rotate-${randomBytes(4).toString('hex')}`
  const OLD = 'the old secret of the cluster!!'
  const NEW = 'the new secret of the cluster!!'
  const make = (secret: string[]) => createCache({ name, bus, threads: 1, heartbeat: 50, peerTimeout: 1000, secret })
  const a = await make([OLD, NEW])
  const b = await make([NEW, OLD])
  t.teardown(async () => Promise.all([a.close(), b.close()]))
  await eventually(t, () => 'a and b to see each other', async () => (await a.stats({ local: true })).peers === 2 && (await b.stats({ local: true })).peers === 2)
  await reset(a, 'v2')
  t.is(b.version, 'v2')
  const keys = ['r1', 'r2', 'r3', 'r4']
  const values = await Promise.all(keys.flatMap((key) => [a, b].map((p) => cached(p, key, async () => `${key} by ${p.peer}`))))
  t.is(new Set(values).size, keys.length)
  const stranger = await createCache({ name, bus, threads: 1, heartbeat: 50, peerTimeout: 1000, secret: ['a third secret, nobody has it'] })
  t.teardown(() => stranger.close())
  await sleep(300)
  t.is((await stranger.stats({ local: true })).peers, 1)
  t.is((await a.stats({ local: true })).peers, 2)
})

test('a signed message carries the HMAC-SHA256 of its head, topic and payload, so that a peer of another build of the same wire version reads it', (t) => {
  // The layout src/peer/seal.ts documents, computed here from the bytes alone: the MAC is part of
  // the wire, and how this build computes it (a key object, made once) must not change it.
  const topic = 'auth-layout'
  const payload = serialize({ t: 'get', k: 'some key' })
  const envelope = Buffer.from(new Seal(topic, [Buffer.from(SECRET)]).seal(payload))
  const id = createHash('sha256').update(SECRET).digest().subarray(0, 4)
  t.deepEqual([...envelope.subarray(0, 2)], [WIRE_VERSION, 1])
  t.deepEqual(envelope.subarray(2, 6), id)
  t.deepEqual(envelope.subarray(38), Buffer.from(payload))
  const topicLength = Buffer.alloc(2)
  topicLength.writeUInt16BE(topic.length)
  const mac = createHmac('sha256', SECRET).update(envelope.subarray(0, 6)).update(topicLength).update(topic).update(payload).digest()
  t.deepEqual(envelope.subarray(6, 38), mac)
  // and an envelope made so by hand is read, under the first key or a later one
  const byHand = Buffer.concat([Buffer.from([WIRE_VERSION, 1]), id, mac, payload])
  for (const keys of [[SECRET], [WRONG, SECRET]]) t.deepEqual(Buffer.from(new Seal(topic, keys.map((k) => Buffer.from(k))).open(byHand) as Uint8Array), Buffer.from(payload))
  byHand[byHand.length - 1]! ^= 1
  t.is(new Seal(topic, [Buffer.from(SECRET)]).open(byHand), 'its signature is wrong')
})

test('secret: a key shorter than 16 bytes, or of the wrong type, is refused naming the option', async (t) => {
  await t.throwsAsync(createCache({ name: 'short-secret', bus: memoryBus(), secret: 'short' }), { instanceOf: RangeError, message: /options\.secret is 5 bytes; a secret is at least 16 bytes/ })
  await t.throwsAsync(createCache({ name: 'bad-secret', bus: memoryBus(), secret: [SECRET, 42 as unknown as string] }), { instanceOf: TypeError, message: /options\.secret\[1\] must be a string or a Uint8Array/ })
  await t.throwsAsync(createCache({ name: 'empty-secret', bus: memoryBus(), secret: [] }), { instanceOf: TypeError, message: /options\.secret must be/ })
})

interface Broker {
  readonly bus: () => Bus
  /** publishes raw bytes on a subject / channel, as anyone with access to the broker can */
  readonly publish: (t: ExecutionContext) => Promise<(subject: string, bytes: Uint8Array) => Promise<void>>
}

const brokers: [string, typeof natsTest, Broker][] = [
  [
    'nats',
    natsTest,
    {
      bus: () => natsBus({ servers: brokerUrl.nats }),
      publish: async (t) => {
        const nc = await connect({ servers: brokerUrl.nats })
        t.teardown(() => nc.close())
        return async (subject, bytes) => {
          nc.publish(subject, bytes)
          await nc.flush()
        }
      },
    },
  ],
  [
    'redis',
    redisTest,
    {
      bus: () => redisBus({ url: brokerUrl.redis }),
      publish: async (t) => {
        const redis = new Redis(brokerUrl.redis)
        t.teardown(() => void redis.disconnect())
        return async (channel, bytes) => void (await redis.publish(channel, Buffer.from(bytes)))
      },
    },
  ],
]

for (const [kind, declare, broker] of brokers) {
  declare(`${kind}: with a secret, anyone who can publish on the cache's channels can neither reset the cache nor answer for it`, async (t) => {
    const name = `auth-${kind}-${randomBytes(4).toString('hex')}`
    const make = () => createCache({ name, bus: broker.bus(), threads: 1, heartbeat: 50, peerTimeout: 1000, secret: SECRET, version: 'v1', nearLimit: 0 })
    const [a, b] = await Promise.all([make(), make()])
    t.teardown(async () => Promise.all([a.close(), b.close()]))
    await eventually(t, () => 'a and b to see each other', async () => (await a.stats({ local: true })).peers === 2 && (await b.stats({ local: true })).peers === 2)
    const publish = await broker.publish(t)
    const forge = (message: Record<string, unknown>, to = '') =>
      new Seal(name, [new TextEncoder().encode(WRONG)]).seal(serialize({ c: name, f: a.peer, q: 1e9 + Math.floor(Math.random() * 1e6), ts: Date.now(), to, ...message }))
    const before = await dropped(b)
    await publish(address(name), forge({ t: 'reset', s: { clock: 2 ** 40, origin: 'ghost', born: 0 }, v: serialize('EVIL') }))
    await publish(address(name), forge({ t: 'beat', s: { clock: 1, origin: '', born: 0 }, v: serialize(0), n: Array(14).fill(Number.NaN), host: 'ghost', pid: 1, hb: 50, pto: 1000 }))
    await publish(address(name, b.peer), forge({ t: 'value', s: { clock: 1, origin: '', born: 0 }, o: 0, i: 'x', r: 1, k: encodeKey('k'), v: serialize('POISON'), h: true }, b.peer))
    await eventually(t, () => 'b to count the three forgeries', async () => (await dropped(b)) >= before + 3)
    t.deepEqual([a.version, b.version], ['v1', 'v1'])
    const values = await within(Promise.all(['k', 'l', 'm'].flatMap((key) => [a, b].map((p) => outcome(cached(p, key, async () => `${key}@${String(p.version)}`))))), 5000, 'calls after the forgeries')
    t.deepEqual(values.filter((o) => !o.ok || o.value === 'POISON'), [])
    await reset(a, 'v2')
    t.deepEqual([a.version, b.version], ['v2', 'v2'])
  })
}

natsTest('without a secret, a cache on a broker warns once that anyone who can publish there can reset it', async (t) => {
  const warnings: (Error & { code?: string })[] = []
  const listen = (warning: Error & { code?: string }) => warnings.push(warning)
  process.on('warning', listen)
  t.teardown(() => void process.off('warning', listen))
  const name = `auth-warn-${randomBytes(4).toString('hex')}`
  const signed = await createCache({ name: `${name}-signed`, bus: natsBus({ servers: brokerUrl.nats }), threads: 1, heartbeat: 50, secret: SECRET })
  await signed.close()
  await sleep(10)
  t.deepEqual(warnings.filter((w) => w.code === 'COOP_CACHE_NO_SECRET'), [])
  const caches = [await createCache({ name, bus: natsBus({ servers: brokerUrl.nats }), threads: 1, heartbeat: 50 }), await createCache({ name, bus: natsBus({ servers: brokerUrl.nats }), threads: 1, heartbeat: 50 })]
  await Promise.all(caches.map((c) => c.close()))
  await sleep(10)
  const said = warnings.filter((w) => w.code === 'COOP_CACHE_NO_SECRET')
  t.is(said.length, 1)
  t.regex(said[0]!.message, /without a secret/)
  // a memory bus reaches no one else: no warning, whatever the count
  void (await createCache({ name, bus: memoryBus(), threads: 1 }).then((c) => c.close()))
})
