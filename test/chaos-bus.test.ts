// The fault-injection bus (helpers/chaos-bus.ts) does what it says, over memoryBus: it is the
// harness of the fault campaign, and a harness that injects less than it claims would make the
// campaign pass for nothing. Each message carries its number and when it was sent, so that a test
// can see what arrived, how often, in which order and how late.
import test from 'ava'
import { memoryBus, type BusMember } from 'coop-cache'
import { chaosBus, seededRandom, type ChaosBus } from './helpers/chaos-bus.js'

interface Peer extends BusMember {
  /** message numbers, in the order they arrived */
  readonly got: number[]
  /** when each arrived, ms after it was sent */
  readonly after: number[]
}

/** Message `n`: its number in 2 bytes, then the time it was sent (float64). */
const msg = (n: number) => {
  const bytes = new Uint8Array(10)
  new DataView(bytes.buffer).setUint16(0, n)
  new DataView(bytes.buffer).setFloat64(2, Date.now())
  return bytes
}

async function join(bus: ChaosBus | ReturnType<typeof memoryBus>, id: string): Promise<Peer> {
  const got: number[] = []
  const after: number[] = []
  const member = await bus.join('t', id, (m) => {
    const view = new DataView(m.buffer, m.byteOffset, m.byteLength)
    got.push(view.getUint16(0))
    after.push(Date.now() - view.getFloat64(2))
  })
  return { ...member, got, after }
}

/** Every message sent has reached the wrapper (the memory bus delivers on a later turn), and none is held back. */
async function drained(bus: ChaosBus): Promise<boolean> {
  await new Promise((resolve) => setImmediate(resolve))
  return bus.quiet(2000)
}

/** Resolves once `list` holds `n` items, or after a second (the test then fails on what it holds). */
async function holds(list: readonly unknown[], n: number): Promise<void> {
  for (let waited = 0; list.length < n && waited < 1000; waited += 5) await sleep(5)
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const countOf = (list: number[]) => {
  const times = new Map<number, number>()
  for (const n of list) times.set(n, (times.get(n) ?? 0) + 1)
  return times
}

test('without faults every message arrives once, in order, and is counted', async (t) => {
  const bus = chaosBus(memoryBus())
  const [a, b] = [await join(bus, 'a'), await join(bus, 'b')]
  for (const n of range(100)) a.send('b', msg(n))
  t.true(await drained(bus))
  t.deepEqual(b.got, range(100))
  t.deepEqual(a.got, [])
  t.like(bus.counts, { received: 100, delivered: 100, dropped: 0, delayed: 0, duplicated: 0, replayed: 0, pending: 0 })
})

test('drop loses about its share of messages, and counts each one lost', async (t) => {
  const bus = chaosBus(memoryBus(), { random: seededRandom(1) })
  const [a, b] = [await join(bus, 'a'), await join(bus, 'b')]
  bus.faults({ drop: 0.3 })
  for (const n of range(1000)) a.send('b', msg(n))
  await drained(bus)
  const { dropped, delivered, received } = bus.counts
  t.is(received, 1000)
  t.is(dropped + delivered, 1000)
  t.is(b.got.length, delivered)
  // 1000 draws at 0.3: 300 ± 14.5; 5 standard deviations either way
  t.true(dropped > 225 && dropped < 375, `${dropped} of 1000 dropped at 0.3`)
  t.deepEqual(countOf(b.got).size, b.got.length, 'a drop rule alone delivers nothing twice')
})

test('duplicate delivers a copy of about its share of messages, after the first', async (t) => {
  const bus = chaosBus(memoryBus(), { random: seededRandom(2) })
  const [a, b] = [await join(bus, 'a'), await join(bus, 'b')]
  bus.faults({ duplicate: 0.5, delay: 20 })
  for (const n of range(400)) a.send('b', msg(n))
  t.true(await drained(bus))
  const times = countOf(b.got)
  const twice = [...times.values()].filter((x) => x === 2).length
  t.is(times.size, 400, 'every message arrived')
  t.true([...times.values()].every((x) => x <= 2))
  t.is(twice, bus.counts.duplicated)
  t.true(twice > 150 && twice < 250, `${twice} of 400 duplicated at 0.5`)
  t.is(bus.counts.delivered, 400 + twice)
  // the copy comes after the original: each number's second arrival is after its first
  const firsts = new Map<number, number>()
  b.got.forEach((n, i) => (firsts.has(n) ? t.true(i > (firsts.get(n) as number)) : firsts.set(n, i)))
})

// serial: how late a message comes is measured, and the other tests of this file would add to it
test.serial('delay holds messages back up to its bound, so they arrive out of order', async (t) => {
  const bus = chaosBus(memoryBus(), { random: seededRandom(3) })
  const [a, b] = [await join(bus, 'a'), await join(bus, 'b')]
  bus.faults({ delay: 80 })
  for (const n of range(200)) a.send('b', msg(n))
  await sleep(5)
  t.true(b.got.length < 200, 'messages are still on their way')
  t.true(bus.counts.pending > 0)
  t.true(await drained(bus))
  t.deepEqual([...b.got].sort((x, y) => x - y), range(200), 'none lost, none repeated')
  t.notDeepEqual(b.got, range(200), 'reordered')
  // timers run late on busy cores: the upper bound is loose, enough to catch seconds taken for ms
  t.true(Math.max(...b.after) <= 80 + 1000, `the longest delay was ${Math.max(...b.after)} ms for a bound of 80`)
  t.true(Math.max(...b.after) >= 40, 'some waited a good part of the bound')
  t.is(bus.counts.pending, 0)
})

test.serial('replay delivers a message again within replayAfter, long after the first', async (t) => {
  const bus = chaosBus(memoryBus(), { random: seededRandom(4) })
  const [a, b] = [await join(bus, 'a'), await join(bus, 'b')]
  bus.faults({ replay: 0.25, replayAfter: [300, 500] })
  for (const n of range(200)) a.send('b', msg(n))
  await holds(b.got, 200)
  t.deepEqual(b.got, range(200), 'first deliveries, at once')
  const replays = bus.counts.replayed
  t.true(replays > 20 && replays < 80, `${replays} of 200 replayed at 0.25`)
  t.true(await drained(bus))
  t.is(b.got.length, 200 + replays)
  const late = b.after.slice(200)
  t.true(late.every((ms) => ms >= 300 && ms <= 500 + 100), `replays came after ${Math.min(...late)}..${Math.max(...late)} ms`)
})

test('faults apply to the members named in peers only, and faults() clears them', async (t) => {
  const bus = chaosBus(memoryBus())
  const [a, b, c] = [await join(bus, 'a'), await join(bus, 'b'), await join(bus, 'c')]
  bus.faults({ drop: 1, peers: ['b'] })
  for (const n of range(50)) a.broadcast(msg(n))
  await holds(c.got, 50)
  await drained(bus)
  t.deepEqual([a.got.length, b.got.length, c.got.length], [50, 0, 50])
  t.like(bus.countsOf('b'), { received: 50, dropped: 50, delivered: 0 })
  t.like(bus.countsOf('c'), { received: 50, dropped: 0, delivered: 50 })
  bus.faults()
  a.send('b', msg(999))
  await holds(b.got, 1)
  t.deepEqual(b.got, [999])
})

test('the same seed makes the same choices', async (t) => {
  const run = async () => {
    const bus = chaosBus(memoryBus(), { random: seededRandom(42), rule: { drop: 0.2, duplicate: 0.2 } })
    const [a, b] = [await join(bus, 'a'), await join(bus, 'b')]
    for (const n of range(300)) a.send('b', msg(n))
    await drained(bus)
    return [...b.got].sort((x, y) => x - y)
  }
  t.deepEqual(await run(), await run())
})

test('a member that left receives nothing more, not even what was held back for it', async (t) => {
  const bus = chaosBus(memoryBus())
  const [a, b] = [await join(bus, 'a'), await join(bus, 'b')]
  bus.faults({ delay: 100 })
  for (const n of range(20)) a.send('b', msg(n))
  await new Promise((resolve) => setImmediate(resolve))
  t.is(bus.counts.received, 20, 'all of them reached the wrapper, to be held back')
  const delivered = b.got.length
  await b.leave()
  t.true(await bus.quiet(1000))
  t.is(b.got.length, delivered)
  t.is(bus.counts.lostToLeave + bus.counts.delivered, 20)
  t.true(bus.counts.lostToLeave > 0)
})

test('members that joined the inner bus directly are untouched, and hear the wrapper’s members', async (t) => {
  const inner = memoryBus()
  const bus = chaosBus(inner, { rule: { drop: 1 } })
  const [a, b] = [await join(bus, 'a'), await join(inner, 'b')]
  for (const n of range(10)) a.send('b', msg(n))
  for (const n of range(10)) b.send('a', msg(100 + n))
  await holds(b.got, 10)
  await drained(bus)
  t.deepEqual([a.got, b.got], [[], range(10)])
})

test('a rule out of range is refused with a message that names the field', (t) => {
  const bus = chaosBus(memoryBus())
  t.throws(() => bus.faults({ drop: 2 }), { instanceOf: RangeError, message: /rule\.drop/ })
  t.throws(() => bus.faults({ delay: -1 }), { instanceOf: RangeError, message: /rule\.delay/ })
  t.throws(() => bus.faults({ replayAfter: [3, 1] }), { instanceOf: RangeError, message: /replayAfter/ })
})
