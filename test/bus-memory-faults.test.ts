// The memory bus's own promises, beyond the shared suite (bus-conformance.test.ts): the faults a
// test injects with it, and the habits of a real bus it keeps (later delivery, a copy each).
import test from 'ava'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { BusMember } from '../src/bus/bus.js'
import { memoryBus, type MemoryBus } from '../src/bus/memory.js'

interface Peer extends BusMember {
  readonly received: number[]
}

/** Joins each of `ids` to one topic of `bus`; each message here is one byte, kept as a number. */
async function peers(bus: MemoryBus, ...ids: string[]): Promise<Peer[]> {
  return Promise.all(ids.map(async (id) => {
    const received: number[] = []
    const member = await bus.join('t', id, (m) => received.push(m[0]!))
    return { ...member, received }
  }))
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Every message sent so far has arrived or been dropped: no delay is set, so one tick is enough. */
const settled = () => new Promise((resolve) => setImmediate(resolve))

test('memory: a cut peer hears nothing and is heard by nobody, itself included, until healed', async (t) => {
  const bus = memoryBus()
  const [a, b, c] = (await peers(bus, 'a', 'b', 'c')) as [Peer, Peer, Peer]
  bus.cut('b')
  a.broadcast(Uint8Array.of(1))
  a.send('b', Uint8Array.of(2))
  b.broadcast(Uint8Array.of(3))
  b.send('c', Uint8Array.of(4))
  await settled()
  t.deepEqual([a.received, b.received, c.received], [[1], [], [1]])
  t.is(bus.dropped, 1 + 1 + 3 + 1)
  bus.heal('b')
  b.broadcast(Uint8Array.of(5))
  await settled()
  t.deepEqual([a.received, b.received, c.received], [[1, 5], [5], [1, 5]])
  t.is(bus.delivered, 2 + 3)
})

test('memory: a message on its way when its receiver is cut is lost', async (t) => {
  const bus = memoryBus()
  const [a, b] = (await peers(bus, 'a', 'b')) as [Peer, Peer]
  a.send('b', Uint8Array.of(1))
  bus.cut('b')
  await settled()
  t.deepEqual(b.received, [])
})

test('memory: drop 1 loses every message', async (t) => {
  const bus = memoryBus()
  const [a, b] = (await peers(bus, 'a', 'b')) as [Peer, Peer]
  bus.faults({ drop: 1 })
  for (let i = 0; i < 50; i++) a.broadcast(Uint8Array.of(i))
  await settled()
  t.deepEqual([a.received, b.received], [[], []])
  t.is(bus.dropped, 100)
  t.is(bus.delivered, 0)
  bus.faults()
  a.send('b', Uint8Array.of(1))
  await settled()
  t.deepEqual(b.received, [1], 'faults() without a rule clears them')
})

test('memory: drop 0.5 loses some but not all of 200 messages', async (t) => {
  const bus = memoryBus()
  const [a, b] = (await peers(bus, 'a', 'b')) as [Peer, Peer]
  bus.faults({ drop: 0.5 })
  for (let i = 0; i < 200; i++) a.send('b', Uint8Array.of(i))
  await settled()
  // All or none of 200 coin flips: about 1 in 10^60.
  t.true(b.received.length > 0 && b.received.length < 200, `${b.received.length} of 200 arrived`)
  t.is(bus.delivered + bus.dropped, 200)
})

test('memory: a delay reorders messages, and loses none', async (t) => {
  const bus = memoryBus()
  const [a, b] = (await peers(bus, 'a', 'b')) as [Peer, Peer]
  bus.faults({ delay: 20 })
  for (let i = 0; i < 50; i++) a.send('b', Uint8Array.of(i))
  while (b.received.length < 50) await sleep(5)
  t.notDeepEqual(b.received, [...b.received].sort((x, y) => x - y))
  t.deepEqual([...b.received].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i))
})

test('memory: faults limited to some peers spare the others', async (t) => {
  const bus = memoryBus()
  const [a, b, c] = (await peers(bus, 'a', 'b', 'c')) as [Peer, Peer, Peer]
  bus.faults({ drop: 1, peers: ['b'] })
  a.broadcast(Uint8Array.of(1))
  b.send('a', Uint8Array.of(2))
  await settled()
  t.deepEqual([a.received, b.received, c.received], [[1], [], [1]])
})

test('memory: a message is delivered later, never inside broadcast or send, and as a copy of its own', async (t) => {
  const bus = memoryBus()
  const got: Uint8Array[] = []
  const a = await bus.join('t', 'a', (m) => got.push(m))
  await bus.join('t', 'b', (m) => got.push(m))
  const sent = Uint8Array.of(1)
  a.broadcast(sent)
  t.is(got.length, 0)
  sent[0] = 9
  await settled()
  t.deepEqual(got, [Uint8Array.of(1), Uint8Array.of(1)])
  t.not(got[0]!.buffer, got[1]!.buffer)
})

test('memory: two memory buses never hear each other', async (t) => {
  const [one, two] = [memoryBus(), memoryBus()]
  const [a] = (await peers(one, 'a')) as [Peer]
  const [b] = (await peers(two, 'b')) as [Peer]
  a.broadcast(Uint8Array.of(1))
  await settled()
  t.deepEqual([a.received, b.received], [[1], []])
})

test('memory: bad fault rules are refused with a message that names the parameter', (t) => {
  const bus = memoryBus()
  t.throws(() => bus.faults({ drop: 2 }), { instanceOf: RangeError, message: 'rule.drop must be a probability between 0 and 1, not 2' })
  t.throws(() => bus.faults({ drop: Number.NaN }), { instanceOf: RangeError, message: /^rule\.drop must be a probability/ })
  // @ts-expect-error a string is not a probability
  t.throws(() => bus.faults({ drop: '0.5' }), { instanceOf: TypeError, message: 'rule.drop must be a number (a probability)' })
  t.throws(() => bus.faults({ delay: -1 }), { instanceOf: RangeError, message: 'rule.delay must be a finite number of milliseconds >= 0, not -1' })
  // @ts-expect-error peers is a list
  t.throws(() => bus.faults({ peers: 'a' }), { instanceOf: TypeError, message: 'rule.peers must be an array of peer ids' })
  // @ts-expect-error peer ids are strings
  t.throws(() => bus.faults({ peers: ['a', 1] }), { instanceOf: TypeError, message: 'rule.peers[1] must be a string (a peer id), not number' })
  // @ts-expect-error peer ids are strings
  t.throws(() => bus.cut(1), { instanceOf: TypeError, message: 'peer must be a string (a peer id), not number' })
})

test('memory: a delayed message does not keep the process alive', async (t) => {
  const memory = fileURLToPath(new URL('../src/bus/memory.js', import.meta.url))
  const script = `
    const { memoryBus } = await import(${JSON.stringify(memory)})
    const bus = memoryBus()
    const a = await bus.join('t', 'a', () => {})
    bus.faults({ delay: 60000 })
    a.broadcast(Uint8Array.of(1))`
  const started = Date.now()
  await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 })
  t.true(Date.now() - started < 5000)
})
