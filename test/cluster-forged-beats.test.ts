// Finding 5 of issue 7, on real brokers with real peer processes: one well-formed message whose
// fields lie must not take the cluster down. Anyone who can publish on the cache's Redis channel
// or NATS subject can send it (the peers here run without a secret, so that what is tested is
// decode() and what follows it, not the signature that would refuse the message first):
//
//   - a beat whose counters hold NaN, or 0.5: once, every peer process exited (Redis) or stopped
//     hearing the bus for good, and close() hung (NATS);
//   - a value whose bytes do not deserialize, answering a real get: once, the owner crash-looped
//     (a small value) or every later hit killed the caller's process (over 16 KiB);
//   - a reset with a clock of 2^31-1 or more: once, every later legitimate reset threw.
//
// Each is dropped and counted (or, for a reset, taken for what it is), and the cluster goes on:
// every process alive, hearing the bus, serving real values, resetting, closing.
//
// The messages are made with helpers/rogue.ts's envelope() and published with a plain client of
// the broker (helpers/tap.ts), on the names src/bus/address.ts gives.
import type { ExecutionContext } from 'ava'
import { serialize } from 'node:v8'
import { memoryBus } from 'coop-cache'
import { address } from '../src/bus/address.js'
import { CLOCK_MAX, type Stamp } from '../src/shared/memory/epoch.js'
import { brokerTest, brokerUrl } from './helpers/brokers.js'
import { oneAtATime, sleep, startFaultPeers, type FaultPeer, type FaultPeers } from './helpers/fault-peers.js'
import { Rogue } from './helpers/rogue.js'
import { tap, type Tap } from './helpers/tap.js'

const HEARTBEAT = 100
/** warnings that say a peer failed on a message, or an owner crash-looped */
const FAILED = ['COOP_CACHE_BUS_MESSAGE_FAILED', 'COOP_CACHE_OWNER_GAVE_UP']

const brokers = { nats: await brokerTest('nats'), redis: await brokerTest('redis') }
const inTurn = oneAtATime()

interface Scene {
  readonly cluster: FaultPeers
  readonly peers: readonly [FaultPeer, FaultPeer]
  readonly wire: Tap
  /** makes the envelopes; it is on no broker, only its envelope() is used */
  readonly rogue: Rogue
}

/** Two peer processes on the machine's broker, a tap on their subjects, and a rogue. */
async function scene(t: ExecutionContext, bus: 'redis' | 'nats', word: string): Promise<Scene> {
  const cluster = await startFaultPeers(t, { bus, url: brokerUrl[bus], size: 2, name: word, heartbeat: HEARTBEAT })
  const peers = cluster.peers as [FaultPeer, FaultPeer]
  const wire = await tap(t, bus, brokerUrl[bus], [address(cluster.name), ...peers.map((p) => address(cluster.name, p.peer))])
  const rogue = await Rogue.join(memoryBus(), cluster.name)
  t.teardown(() => rogue.leave())
  return { cluster, peers, wire, rogue }
}

/** Each peer's dropped count and warnings; none may have died. */
async function look(t: ExecutionContext, peers: readonly FaultPeer[]) {
  const states = await Promise.all(peers.map((p) => p.do({ op: 'state' }, 5000)))
  for (const [i, s] of states.entries()) t.deepEqual(s.warnings.filter((w) => FAILED.includes(w)), [], `peer ${i} warned`)
  return states
}

/** The cluster still works: each peer's reset reaches the other, and both close in time. */
async function goesOn(t: ExecutionContext, peers: readonly FaultPeer[], versions: readonly string[]): Promise<void> {
  for (const [i, version] of versions.entries()) {
    const reset = await (peers[i % peers.length] as FaultPeer).do({ op: 'reset', version }, 5000)
    t.is(reset.error, undefined)
    const states = await Promise.all(peers.map((p) => p.do({ op: 'state' })))
    t.deepEqual(states.map((s) => s.version), peers.map(() => version), `a reset from peer ${i % peers.length} did not reach every peer`)
    t.deepEqual(states.map((s) => s.members), peers.map(() => peers.length))
  }
  const closed = await Promise.all(peers.map((p) => p.do({ op: 'close' }, 5000)))
  t.log(`closed in ${closed.map((c) => c.ms).join(', ')} ms`)
  t.deepEqual(peers.map((p) => p.ended), peers.map(() => undefined), 'a peer process exited')
}

const beats = (bus: 'redis' | 'nats') => inTurn(async (t) => {
  const { cluster, peers, wire, rogue } = await scene(t, bus, 'forged-beat')
  const all = address(cluster.name)
  // A real beat, copied: only the counters lie.
  const real = (await wire.next((m) => m.subject === all && m.message?.t === 'beat')).message as { s: Stamp; v: Uint8Array; n: number[]; host: string; pid: number; hb: number; pto: number }
  const before = await look(t, peers)
  for (const lie of [NaN, 0.5]) await wire.publish(all, rogue.envelope({ t: 'beat', s: real.s, v: real.v, n: [lie, ...real.n.slice(1)], host: real.host, pid: real.pid, hb: real.hb, pto: real.pto }))
  await sleep(5 * HEARTBEAT)
  const after = await look(t, peers)
  t.deepEqual(after.map((s, i) => s.dropped - (before[i]?.dropped ?? 0)), [2, 2], 'each peer counted both beats as dropped')
  // The rogue never became a member.
  t.deepEqual(after.map((s) => s.members), [2, 2])
  await goesOn(t, peers, ['v2', 'v3'])
})

const values = (bus: 'redis' | 'nats') => inTurn(async (t) => {
  const { cluster, peers, wire, rogue } = await scene(t, bus, 'forged-value')
  const [asker, owner] = peers
  const toOwner = address(cluster.name, owner.peer)
  const junk = {
    small: new Uint8Array([0xff, 0x0f, 0x6f, 0x22]),
    large: Uint8Array.from({ length: 20_000 }, (_, i) => (i < 2 ? [0xff, 0x0f][i] as number : 0xfe)),
  }
  const keys = cluster.keysOf(owner, 2, 'report-')
  for (const [i, [size, bytes]] of Object.entries(junk).entries()) {
    const key = keys[i] as string
    const before = await look(t, peers)
    // The asker asks the owner for a key nobody holds; the owner has it compute (800 ms).
    const calling = asker.do({ op: 'call', key, ms: 800 })
    calling.catch(() => {}) // awaited below; a failure before must not go unhandled
    const get = (await wire.next((m) => m.subject === toOwner && m.message?.t === 'get' && m.message.f === asker.peer)).message as Record<string, unknown>
    // The answer, in the owner's name, numbered past what the owner has sent so far.
    const q = Math.max(0, ...wire.heard.filter((m) => m.message?.f === owner.peer).map((m) => m.message?.q ?? 0)) + 100
    const value = { t: 'value', s: get.s, o: get.o, i: get.i, r: get.r, k: get.k, v: bytes, h: true }
    await wire.publish(address(cluster.name, asker.peer), rogue.envelope(value, asker.peer, { f: owner.peer, q }))
    const got = await calling
    t.like(got, { key, own: true, value: { key, version: 'v1' } }, `the ${size} forged value reached the caller`)
    // Stored, and served to both, from the owner and the asker: nobody crashes on a hit.
    for (const p of [asker, owner, asker]) t.like(await p.do({ op: 'call', key }), { own: false, value: { n: got.value?.n, pid: got.value?.pid } })
    const after = await look(t, peers)
    t.deepEqual(after.map((s) => s.owners), before.map((s) => s.owners), `an owner thread was restarted after the ${size} forged value`)
    t.is((after[0]?.dropped ?? 0) - (before[0]?.dropped ?? 0), 1, `the asker counted the ${size} forged value as dropped`)
  }
  await goesOn(t, peers, ['v2'])
})

const clocks = (bus: 'redis' | 'nats') => inTurn(async (t) => {
  const { cluster, peers, wire, rogue } = await scene(t, bus, 'forged-clock')
  for (const [i, clock] of [2 ** 31 - 1, 2 ** 40, CLOCK_MAX].entries()) {
    await wire.publish(address(cluster.name), rogue.envelope({ t: 'reset', s: { clock, origin: rogue.id, born: 0 }, v: serialize(`forged-${i}`) }))
    await sleep(3 * HEARTBEAT)
    const states = await look(t, peers)
    t.log(`after a reset with clock ${clock}: ${states.map((s) => `${String(s.version)} epoch ${s.epoch}`).join('; ')}`)
    // Taken or refused, then legitimate resets, from either peer, still reach every peer.
    const version = `v${i + 2}`
    const reset = await (peers[i % 2] as FaultPeer).do({ op: 'reset', version }, 5000)
    t.is(reset.error, undefined, `after a forged reset with clock ${clock}, a legitimate reset failed`)
    const after = await Promise.all(peers.map((p) => p.do({ op: 'state' })))
    t.deepEqual(after.map((s) => s.version), [version, version], `after a forged reset with clock ${clock}`)
    t.is(after[0]?.epoch, after[1]?.epoch)
  }
  t.deepEqual(peers.map((p) => p.ended), [undefined, undefined], 'a peer process exited')
})

for (const bus of ['redis', 'nats'] as const) {
  const name = bus === 'redis' ? 'Redis' : 'NATS'
  brokers[bus](`a beat whose counters hold NaN or 0.5, published on the cache's ${name} ${bus === 'redis' ? 'channel' : 'subject'}, is dropped and counted by every peer, and every peer process lives on, hears the bus and closes`, beats(bus))
  brokers[bus](`a value whose bytes do not deserialize, answering a real get over ${name} (4 bytes and 20 KB), is dropped and counted: the caller gets a real value and no owner or process crashes`, values(bus))
  brokers[bus](`after a reset with a clock of 2^31-1, 2^40 or the largest a stamp may hold, published over ${name}, legitimate resets still reach every peer`, clocks(bus))
}
