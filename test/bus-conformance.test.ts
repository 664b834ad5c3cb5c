// One suite that every bus runs against itself: what the cache relies on (bus.ts), checked the
// same way on each. A bus is reached through a Harness that joins peers and shows what each one
// received; for NATS and Redis the peers have connections of their own (two of them share one,
// as members of one natsBus() do), for IPC they are real processes, forked from here.
import test, { type ExecutionContext } from 'ava'
import { fork, type ChildProcess } from 'node:child_process'
import cluster, { type Worker } from 'node:cluster'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type { Bus } from '../src/bus/bus.js'
import { ipcBus } from '../src/bus/ipc.js'
import { memoryBus } from '../src/bus/memory.js'
import { natsBus } from '../src/bus/nats.js'
import { redisBus } from '../src/bus/redis.js'
import type { Command, Event } from './fixtures/ipc-peer.js'
import { brokerTest, brokerUrl } from './helpers/brokers.js'

interface Peer {
  readonly id: string
  readonly received: Uint8Array[]
  broadcast(message: Uint8Array): void
  send(to: string, message: Uint8Array): void
  leave(): Promise<void>
}

interface Harness {
  /** Joins each of `ids` to `topic` as a peer of its own; resolves when all have joined. */
  join(topic: string, ids: readonly string[]): Promise<Peer[]>
  close(): Promise<void>
}

// Asked before any test is declared: ava takes no declaration after the file's first tick.
const natsTest = await brokerTest('nats')
const redisTest = await brokerTest('redis')

const fixture = fileURLToPath(new URL('./fixtures/ipc-peer.js', import.meta.url))
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Long enough for a message that was going to arrive to have arrived, on every bus here. */
const SETTLE = 150

/** Resolves once `done()` holds; fails the test if it does not within `ms` milliseconds. */
async function until(what: string, done: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`)
    await sleep(5)
  }
}

/** Peers in this process, on buses made by `make`: `share` of them share the first bus. */
function inProcess(make: () => Bus, share = 1): Harness {
  const first = make()
  const left: (() => Promise<void>)[] = []
  return {
    async join(topic, ids) {
      return Promise.all(ids.map(async (id, i) => {
        const received: Uint8Array[] = []
        const member = await (i < share ? first : make()).join(topic, id, (m) => received.push(m))
        left.push(() => member.leave())
        return { id, received, broadcast: member.broadcast, send: member.send, leave: member.leave }
      }))
    },
    async close() {
      await Promise.all(left.map((leave) => leave()))
    },
  }
}

// One ipcBus for the whole file, as a process has one: the hub of every child forked here.
// This test process has an IPC channel of its own (to ava), where no ipcBus listens.
const hub = ipcBus({ parent: false })

interface Driven {
  send(command: Command): unknown
  on(event: 'message', listener: (message: Event | Record<string, unknown>) => void): unknown
}

/** An ipc-peer process: `command` drives it, `next` waits for an event of its. */
function drive<P extends Driven>(p: P) {
  const events: Event[] = []
  const waiting = new Set<() => void>()
  p.on('message', (m) => {
    if (!('event' in m)) return // the bus's envelopes: the hub's business
    events.push(m as Event)
    waiting.forEach((check) => check())
  })
  const next = (match: (e: Event) => boolean) =>
    new Promise<Event>((resolve) => {
      const check = () => {
        const found = events.find(match)
        if (found === undefined) return
        events.splice(events.indexOf(found), 1)
        waiting.delete(check)
        resolve(found)
      }
      waiting.add(check)
      check()
    })
  /** The bytes each member of this process (or its child) received, by member id. */
  const received = (id: string) => events.filter((e) => e.event === 'received' && e.id === id).map((e) => [...Buffer.from((e as { data: string }).data, 'base64')])
  const ready = next((e) => e.event === 'ready')
  return { process: p, command: (c: Command) => void ready.then(() => p.send(c)), next, received }
}

/** A forked ipc-peer; `timeout` is its bus's join timeout, in milliseconds. */
const child = (timeout?: number) => drive(fork(fixture, timeout === undefined ? [] : [String(timeout)]))

/** The first peer is a member of the hub itself, each other one a forked child. */
function ipcHarness(): Harness {
  const local = inProcess(() => hub)
  const children: ChildProcess[] = []
  const forked = async (topic: string, id: string): Promise<Peer> => {
    const c = child()
    hub.adopt(c.process)
    children.push(c.process)
    const key = `${topic}/${id}`
    c.command({ cmd: 'join', id: key, topic, peer: id })
    const answer = await c.next((e) => 'id' in e && e.id === key)
    if (answer.event === 'failed') throw new Error(answer.message)
    return {
      id,
      get received() {
        return c.received(key).map((bytes) => Uint8Array.from(bytes))
      },
      broadcast: (m) => c.command({ cmd: 'broadcast', id: key, data: b64(m) }),
      send: (to, m) => c.command({ cmd: 'send', id: key, to, data: b64(m) }),
      async leave() {
        c.command({ cmd: 'leave', id: key })
        await c.next((e) => e.event === 'left' && e.id === key)
      },
    }
  }
  return {
    async join(topic, [head, ...rest]) {
      const [here, there] = await Promise.all([local.join(topic, head === undefined ? [] : [head]), Promise.all(rest.map((id) => forked(topic, id)))])
      return [...here, ...there]
    },
    async close() {
      await local.close()
      children.forEach((c) => c.kill())
    },
  }
}

type Declare = (title: string, implementation: (t: ExecutionContext) => Promise<void>) => void

function suite(name: string, declare: Declare, make: () => Harness, big: number): void {
  const topic = (what: string) => `${what}-${randomBytes(4).toString('hex')}`
  const withHarness = (title: string, body: (t: ExecutionContext, h: Harness) => Promise<void>) =>
    declare(`${name}: ${title}`, async (t) => {
      const h = make()
      try {
        await body(t, h)
      } finally {
        await h.close()
      }
    })

  withHarness('a broadcast reaches every peer on the topic, the sender included', async (t, h) => {
    const [a, b, c] = await h.join(topic('broadcast'), ['a', 'b', 'c'])
    a!.broadcast(new Uint8Array([1, 2, 3]))
    await until('every peer has the broadcast', () => [a, b, c].every((p) => p!.received.length > 0))
    await sleep(SETTLE)
    for (const p of [a, b, c]) t.deepEqual(p!.received, [new Uint8Array([1, 2, 3])], `peer ${p!.id} heard it once`)
  })

  withHarness('a message sent to one peer reaches only that peer', async (t, h) => {
    const [a, b, c] = await h.join(topic('send'), ['a', 'b', 'c'])
    a!.send('b', new Uint8Array([7]))
    await until('b has the message', () => b!.received.length > 0)
    await sleep(SETTLE)
    t.deepEqual(b!.received, [new Uint8Array([7])])
    t.is(a!.received.length, 0)
    t.is(c!.received.length, 0)
  })

  withHarness('topics are separate, even between peers with the same ids', async (t, h) => {
    const [x1, y1] = await h.join(topic('one'), ['x', 'y'])
    const [x2, y2] = await h.join(topic('two'), ['x', 'y'])
    x1!.broadcast(new Uint8Array([1]))
    x1!.send('y', new Uint8Array([2]))
    await until('both reach y on the first topic', () => y1!.received.length === 2 && x1!.received.length === 1)
    await sleep(SETTLE)
    t.is(x2!.received.length, 0)
    t.is(y2!.received.length, 0)
  })

  withHarness(`bytes arrive unchanged (all 256 byte values, and ${big / 1024} KiB)`, async (t, h) => {
    const [a, b] = await h.join(topic('bytes'), ['a', 'b'])
    const every = Uint8Array.from({ length: 256 }, (_, i) => i)
    const large = new Uint8Array(randomBytes(big))
    a!.send('b', every)
    a!.broadcast(large)
    await until('b has both', () => b!.received.length === 2)
    t.deepEqual(b!.received.find((m) => m.length === 256), every)
    t.true(Buffer.from(large).equals(b!.received.find((m) => m.length === big)!))
  })

  withHarness('after leave nothing more is received', async (t, h) => {
    const [a, b] = await h.join(topic('leave'), ['a', 'b'])
    await b!.leave()
    await b!.leave() // a second leave is harmless
    a!.broadcast(new Uint8Array([1]))
    a!.send('b', new Uint8Array([2]))
    await until('a hears its own broadcast', () => a!.received.length === 1)
    await sleep(SETTLE)
    t.is(b!.received.length, 0)
  })

  withHarness('a topic and peer ids with dots, spaces, slashes and wildcards work', async (t, h) => {
    const ids = ['a.b c/d', 'a.b c/e', '*', '>', 'é%2E']
    const peers = await h.join(topic('odd.topic */>'), ids)
    peers[0]!.send('>', new Uint8Array([1]))
    peers[0]!.send('a.b c/e', new Uint8Array([2]))
    peers[4]!.broadcast(new Uint8Array([3]))
    await until('the broadcast is everywhere', () => peers.every((p) => p.received.some((m) => m[0] === 3)))
    await sleep(SETTLE)
    t.deepEqual(peers.map((p) => p.received.length), [1, 2, 1, 2, 1])
  })
}

suite('memory', test, () => inProcess(memoryBus, Infinity), 1024 * 1024)
suite('ipc', test, ipcHarness, 1024 * 1024)
// nats-server's default max_payload is 1 MiB, headers included.
suite('nats', natsTest, () => inProcess(() => natsBus({ servers: brokerUrl.nats }), 2), 512 * 1024)
suite('redis', redisTest, () => inProcess(() => redisBus({ url: brokerUrl.redis }), 2), 1024 * 1024)

test('nats: join rejects, naming the servers, when NATS cannot be reached', async (t) => {
  const bus = natsBus({ servers: ['127.0.0.1:1'] })
  await t.throwsAsync(bus.join('t', 'p', () => {}), { message: /^natsBus cannot connect to NATS at 127\.0\.0\.1:1: \S/ })
})

test('redis: join rejects, naming the url, when Redis cannot be reached', async (t) => {
  const bus = redisBus({ url: 'redis://user:secret@127.0.0.1:1' })
  await t.throwsAsync(bus.join('t', 'p', () => {}), { message: /^redisBus cannot connect to Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1:1: \S/ })
})

natsTest('nats: a message over the server\'s max_payload is lost and counted, not thrown', async (t) => {
  const bus = natsBus({ servers: brokerUrl.nats })
  const member = await bus.join(`big-${randomBytes(4).toString('hex')}`, 'p', () => {})
  t.notThrows(() => member.broadcast(new Uint8Array(2 * 1024 * 1024)))
  t.is(bus.errors, 1)
  await member.leave()
})

test('ipc: the user\'s own IPC messages still flow both ways, beside the bus\'s', async (t) => {
  const c = child()
  hub.adopt(c.process)
  const topic = `own-${randomBytes(4).toString('hex')}`
  c.command({ cmd: 'join', id: 'x', topic, peer: 'x' })
  await c.next((e) => e.event === 'joined')
  const here = await hub.join(topic, 'here', () => {})
  here.broadcast(new Uint8Array([1]))
  await c.next((e) => e.event === 'received')
  c.command({ cmd: 'ping' })
  const pong = await c.next((e) => e.event === 'pong')
  t.true(pong.event === 'pong' && pong.envelopes >= 2, 'the child also saw the envelopes, and skipped them')
  await here.leave()
  c.process.kill()
})

test('ipc: join rejects, saying what to do, when the parent runs no ipcBus', async (t) => {
  const c = child(200) // not adopted: nothing here answers its join
  c.command({ cmd: 'join', id: 'x', topic: 't', peer: 'x' })
  const answer = await c.next((e) => e.event === 'failed' || e.event === 'joined')
  t.is(answer.event, 'failed')
  t.regex((answer as { message: string }).message, /^ipcBus: no ipcBus in the parent process \(pid \d+\), or above it, answered the join within 200 ms; call ipcBus\(\) there, or pass \{ parent: false \}/)
  c.process.kill()
})

test('ipc: a child that forks a child of its own routes for it (a tree of three processes)', async (t) => {
  const mid = child()
  hub.adopt(mid.process)
  mid.command({ cmd: 'fork' })
  await mid.next((e) => e.event === 'forked')
  const topic = `tree-${randomBytes(4).toString('hex')}`
  const top: number[][] = []
  const member = await hub.join(topic, 'top', (m) => top.push([...m]))
  for (const [id, down] of [['mid', false], ['leaf', true]] as const) {
    mid.command({ cmd: 'join', id, topic, peer: id, down })
    t.is((await mid.next((e) => 'id' in e && e.id === id)).event, 'joined')
  }
  mid.command({ cmd: 'broadcast', id: 'leaf', data: b64(new Uint8Array([1])), down: true })
  member.send('leaf', new Uint8Array([2]))
  mid.command({ cmd: 'send', id: 'mid', to: 'leaf', data: b64(new Uint8Array([3])) })
  mid.command({ cmd: 'send', id: 'leaf', to: 'top', data: b64(new Uint8Array([4])), down: true })
  await until('every message is in', () => top.length === 2 && mid.received('leaf').length === 3)
  await sleep(SETTLE)
  t.deepEqual(top.sort(), [[1], [4]])
  t.deepEqual(mid.received('mid'), [[1]])
  t.deepEqual(mid.received('leaf').sort(), [[1], [2], [3]])
  await member.leave()
  mid.process.kill()
})

test('ipc: cluster workers reach each other and the primary through the primary\'s ipcBus', async (t) => {
  cluster.setupPrimary({ exec: fixture })
  const workers = [cluster.fork(), cluster.fork()].map((w: Worker) => drive(w))
  const topic = `cluster-${randomBytes(4).toString('hex')}`
  const primary: number[][] = []
  const member = await hub.join(topic, 'primary', (m) => primary.push([...m]))
  for (const [i, w] of workers.entries()) {
    w.command({ cmd: 'join', id: `w${i}`, topic, peer: `w${i}` })
    t.is((await w.next((e) => 'id' in e && e.id === `w${i}`)).event, 'joined')
  }
  const [w0, w1] = workers as [(typeof workers)[0], (typeof workers)[0]]
  w0.command({ cmd: 'broadcast', id: 'w0', data: b64(new Uint8Array([1])) })
  member.send('w1', new Uint8Array([2]))
  w1.command({ cmd: 'send', id: 'w1', to: 'w0', data: b64(new Uint8Array([3])) })
  await until('every message is in', () => primary.length === 1 && w0.received('w0').length === 2 && w1.received('w1').length === 2)
  await sleep(SETTLE)
  t.deepEqual(primary, [[1]])
  t.deepEqual(w0.received('w0').sort(), [[1], [3]])
  t.deepEqual(w1.received('w1').sort(), [[1], [2]])
  await member.leave()
  workers.forEach((w) => w.process.kill())
})
