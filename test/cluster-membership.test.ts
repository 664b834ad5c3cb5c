// When the members change without a fault, nothing is computed twice and no version goes back:
// a process that joins a running cluster takes the cluster's version (only reset() changes it),
// and a key that already has a value in this version keeps it when it moves to the newcomer,
// which fetches it from the process that held it instead of computing it again. A while after it
// joined (the quiet time: peerTimeout + heartbeat), each previous owner hands it the values of
// its keys and says so, and from then on it asks nobody before computing a key of its own. (These
// run with replicas: 1, where no process holds a copy beforehand; with copies, see
// replicas.test.ts.)
import test from 'ava'
import { cached, invalidate, peek, reset } from 'coop-cache'
import { encodeKey } from '../src/shared/key.js'
import { ranked } from '../src/shared/ring.js'
import { eventually, eventuallyHeld, within } from './helpers/cluster.js'
import { peers, type Member } from './helpers/pair.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** `p`'s value for `key`, computed (counted on p's board) as `${key}@${version}#${p's index}`. */
const valueOf = (p: Member, index: number, key: string) =>
  cached<string>(p.cache, key, async (context) => `${String(await p.board.fn({ value: key, withVersion: true })(context))}#${index}`)

test.serial("a process that joins a running cluster takes the cluster's version, newer or older than its own", async (t) => {
  for (const [running, joining] of [[200, 100], [100, 200]]) {
    const cluster = await peers(t, 'join-version', 2, { version: running })
    const newcomer = await cluster.add({ version: joining })
    await cluster.settled()
    t.deepEqual(cluster.members.map((m) => m.cache.version), [running, running, running], `a newcomer on ${joining} joining a cluster on ${running}`)
    t.deepEqual(newcomer.resets, [running])
    t.deepEqual(cluster.members.slice(0, 2).map((m) => m.resets), [[], []])
    // only a reset moves the cluster to the newcomer's version
    await reset(newcomer.cache, joining)
    t.deepEqual(cluster.members.map((m) => m.cache.version), [joining, joining, joining])
  }
})

test.serial('processes started on different versions at the same time settle on the version of the one started first', async (t) => {
  const cluster = await peers(t, 'join-together', 0)
  const first = await cluster.add({ version: 'first' })
  const second = await cluster.add({ version: 'second' })
  await cluster.settled()
  t.deepEqual([first.cache.version, second.cache.version], ['first', 'first'])
})

test.serial('keys that move to a process joining the cluster keep their values: nothing is computed again', async (t) => {
  const cluster = await peers(t, 'join-keys', 2, { version: 1, replicas: 1 })
  const keys = Array.from({ length: 30 }, (_, i) => `page-${i}`)
  const first = new Map<string, string>()
  for (const key of keys) first.set(key, await valueOf(cluster.members[0] as Member, 0, key))
  const computed = () => cluster.members.reduce((n, m) => n + m.board.computed, 0)
  t.is(computed(), keys.length)
  const newcomer = await cluster.add({ version: 1 })
  await cluster.settled()
  const moved = cluster.keysOf(newcomer, 1000, 'page-').filter((key) => keys.includes(key))
  t.true(moved.length > 0, 'some keys now belong to the newcomer')
  // every process asks every key: each gets the value computed before the newcomer came
  for (const [index, member] of cluster.members.entries()) {
    for (const key of keys) t.is(await valueOf(member, index, key), first.get(key) as string, `${key} from member ${index}`)
  }
  t.is(computed(), keys.length, 'no key was computed again')
  t.is(newcomer.board.computed, 0)
  // a key nobody computed yet is computed once, by whoever asks first
  const fresh = cluster.keysOf(newcomer, 1, 'fresh-')[0] as string
  const values = await Promise.all(cluster.members.map((m, i) => valueOf(m, i, fresh)))
  t.is(new Set(values).size, 1)
  t.is(computed(), keys.length + 1)
})

test.serial('a key being computed when a process joins is not computed again by the newcomer it moves to', async (t) => {
  const cluster = await peers(t, 'join-flight', 2, { version: 1 })
  const [a] = cluster.members as [Member]
  // hold a computation of many keys in a, then let a process join, and ask it for them all
  const keys = Array.from({ length: 20 }, (_, i) => `slow-${i}`)
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  const held = keys.map((key) => cached(a.cache, key, async () => (await gate, `${key} by a`)))
  await sleep(100)
  const newcomer = await cluster.add({ version: 1 })
  await cluster.settled()
  const moved = cluster.keysOf(newcomer, 1000, 'slow-').filter((key) => keys.includes(key))
  t.true(moved.length > 0)
  const asked = moved.map((key) => cached(newcomer.cache, key, async () => `${key} by the newcomer`))
  await sleep(200)
  release()
  t.deepEqual(await within(Promise.all(held), 5000, "a's calls"), keys.map((key) => `${key} by a`))
  t.deepEqual(await within(Promise.all(asked), 5000, "the newcomer's calls"), moved.map((key) => `${key} by a`))
})

test.serial('a process that joined is handed the values of its keys by their previous owners, those with a time to live too: then it serves them, and computes its other keys, without asking anyone', async (t) => {
  const cluster = await peers(t, 'join-handed', 2, { version: 1, replicas: 1 })
  const [a, b] = cluster.members as [Member, Member]
  const keys = Array.from({ length: 40 }, (_, i) => `page-${i}`)
  const first = new Map<string, string>()
  // half of them live a minute: a value with a time to live is handed over with what it has left
  for (const [i, key] of keys.entries()) {
    first.set(key, await cached<string>(a.cache, key, async (context) => `${String(await a.board.fn({ value: key, withVersion: true })(context))}#0`, i % 2 === 0 ? {} : { ttl: 60_000 }))
  }
  const newcomer = await cluster.add({ version: 1 })
  await cluster.settled()
  const moved = cluster.keysOf(newcomer, 1000, 'page-').filter((key) => keys.includes(key))
  t.true(moved.some((key) => keys.indexOf(key) % 2 === 1) && moved.some((key) => keys.indexOf(key) % 2 === 0), 'keys of both kinds moved to the newcomer')
  // peek looks in the newcomer alone: the values arrive there unasked, within the quiet time
  t.deepEqual(await eventuallyHeld(t, newcomer.cache, moved, 'the newcomer, handed its keys,'), [])
  await sleep(200) // the gave that follows the gives
  // Nobody hears a or b any more. Until the newcomer drops them (peerTimeout), a call that asked
  // one of them would wait: the newcomer's calls must not.
  cluster.bus.cut(a.cache.peer as string)
  cluster.bus.cut(b.cache.peer as string)
  const fresh = cluster.keysOf(newcomer, 5, 'fresh-')
  const started = Date.now()
  for (const key of moved) t.is(await valueOf(newcomer, 2, key), first.get(key) as string, `${key}, handed over`)
  for (const key of fresh) t.regex(await valueOf(newcomer, 2, key), new RegExp(`^${key}@1#2$`))
  const members = (await newcomer.cache.stats({ local: true })).peers
  t.is(members, 3, `the calls took ${Date.now() - started} ms: long enough for the newcomer to drop the peers it asked`)
  t.is(newcomer.board.computed, fresh.length, 'the newcomer computed its fresh keys, and only those')
  t.is(a.board.computed + b.board.computed, keys.length)
})

test.serial("a previous owner computing a key of the newcomer's when its handover is due hands over once that ends: the newcomer's calls join the computation meanwhile", async (t) => {
  const cluster = await peers(t, 'join-handed-flight', 2, { version: 1, replicas: 1 })
  const [a] = cluster.members as [Member]
  const keys = Array.from({ length: 20 }, (_, i) => `slow-${i}`)
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  let ran = 0
  const held = keys.map((key) => cached(a.cache, key, async () => (ran++, await gate, `${key} by a`)))
  await sleep(100)
  const newcomer = await cluster.add({ version: 1 })
  await cluster.settled()
  const moved = cluster.keysOf(newcomer, 1000, 'slow-').filter((key) => keys.includes(key))
  t.true(moved.length > 0)
  // well past the quiet time (peerTimeout 1000 + heartbeat 50): a's handover is due, and held back
  await sleep(1600)
  const asked = moved.map((key) => cached(newcomer.cache, key, async () => (ran++, `${key} by the newcomer`)))
  await sleep(200)
  release()
  t.deepEqual(await within(Promise.all(held), 5000, "a's calls"), keys.map((key) => `${key} by a`))
  t.deepEqual(await within(Promise.all(asked), 5000, "the newcomer's calls"), moved.map((key) => `${key} by a`))
  t.is(ran, keys.length, 'no key was computed twice')
  // and once the computations have ended, a hands their values over: the newcomer keeps them
  t.deepEqual(await eventuallyHeld(t, newcomer.cache, moved, 'the newcomer, handed the values computed in a,'), [])
})

test.serial("when a previous owner is lost before it handed over, the newcomer asks the key's next previous owner again, which holds a copy: nothing is computed again", async (t) => {
  const cluster = await peers(t, 'join-handed-lost', 2, { version: 1, replicas: 1 })
  const [a, b] = cluster.members as [Member, Member]
  const ids = () => cluster.members.map((m) => m.cache.peer as string)
  const keys = Array.from({ length: 60 }, (_, i) => `page-${i}`)
  // computed in a; b fetched each, and keeps what it fetched
  for (const key of keys) await cached(a.cache, key, () => `${key} by a`)
  for (const key of keys) await cached(b.cache, key, () => `${key} by b`)
  const newcomer = await cluster.add({ version: 1 })
  const joined = Date.now()
  // keys the newcomer owns now, that a owned before, and that b would own without a
  const lost = keys.filter((key) => ranked(encodeKey(key), ids(), 3).join() === [newcomer, a, b].map((m) => m.cache.peer).join())
  t.true(lost.length > 0)
  for (const key of lost) t.is(await peek(b.cache, key), `${key} by a`, 'b keeps what it fetched')
  // a is cut off before its handover, and dropped after b's: b then had nothing of the
  // newcomer's to give, and has said so.
  await sleep(joined + 300 - Date.now())
  cluster.bus.cut(a.cache.peer as string)
  await eventually(t, () => 'the newcomer still sees a', async () => (await newcomer.cache.stats({ local: true })).peers === 2)
  let ran = 0
  for (const key of lost) t.is(await cached(newcomer.cache, key, () => (ran++, `${key} by the newcomer`)), `${key} by a`)
  t.is(ran, 0, 'no key was computed again')
})

// The peers count a newcomer in from its hello, and send it the requests for its keys from then
// on, while it still waits (two heartbeats) to hear who is there. It holds them until it has:
// placed at once, they were computed there, uncached, though a held the values.
test.serial('a process still joining holds the requests its peers send it until it knows who held their keys: it computes none that another holds', async (t) => {
  const cluster = await peers(t, 'join-held', 2, { version: 1, replicas: 1, heartbeat: 200 })
  const [a, b] = cluster.members as [Member, Member]
  const keys = Array.from({ length: 200 }, (_, i) => `page-${i}`)
  // all computed by a's callers: a holds those it owns, b those it owns
  for (const key of keys) t.is(await valueOf(a, 0, key), `${key}@1#0`)
  const computed = () => cluster.members.reduce((n, m) => n + m.board.computed, 0)
  t.is(computed(), keys.length)
  const started = Date.now()
  const joining = cluster.add({ version: 1 })
  await eventually(t, () => 'b does not see the newcomer', async () => (await b.cache.stats({ local: true })).peers === 3, 5000)
  const seen = Date.now() - started
  // b asks every key while the newcomer joins (it takes 400 ms): those the newcomer owns now go there
  const values = await Promise.all(keys.map((key) => valueOf(b, 1, key)))
  const newcomer = await joining
  t.log(`b saw the newcomer ${seen} ms after it began to join, which took ${Date.now() - started} ms`)
  t.true(cluster.keysOf(newcomer, 1000, 'page-').some((key) => keys.includes(key)), 'some keys are the newcomer’s')
  t.deepEqual(values, keys.map((key) => `${key}@1#0`))
  t.is(computed(), keys.length, 'no key was computed again')
})

// Two processes join one after the other, within the quiet time. Of the values a computed
// alone, those of keys ranked c, b, a are c's now, and b, its owner before it among those it
// found, never held them: c asks b, then a. Those ranked b, c, a are b's, and c was not there
// when b joined: a hands them to b though c ranks between the two.
test.serial('values stored before two processes joined one after the other are neither computed again by the second, whose owner before it never held them, nor left out of the handover to the first', async (t) => {
  // A longer peer timeout than the others here: the quiet time (3,050 ms) is the window in which
  // c asks before anyone has handed it over.
  const cluster = await peers(t, 'join-chain', 1, { version: 1, replicas: 1, peerTimeout: 3000 })
  const [a] = cluster.members as [Member]
  const keys = Array.from({ length: 200 }, (_, i) => `page-${i}`)
  for (const key of keys) t.is(await valueOf(a, 0, key), `${key}@1#0`)
  const b = await cluster.add({ version: 1 })
  const c = await cluster.add({ version: 1 })
  const joined = Date.now()
  await cluster.settled()
  const order = (key: string) => ranked(encodeKey(key), cluster.members.map((m) => m.cache.peer as string), 3).join()
  const ids = (...ms: Member[]) => ms.map((m) => m.cache.peer).join()
  const passed = keys.filter((key) => order(key) === ids(c, b, a))
  const between = keys.filter((key) => order(key) === ids(b, c, a))
  t.true(passed.length > 0 && between.length > 0, 'keys of both kinds')
  // Before any handover.
  for (const key of passed) t.is(await valueOf(c, 2, key), `${key}@1#0`, `${key} from c`)
  t.true(Date.now() - joined < 3000, `asked within the quiet time: ${Date.now() - joined} ms`)
  t.is(c.board.computed, 0, 'c computed none of the keys that passed by b')
  // Then a hands b its keys, these among them, and b serves them without asking.
  t.deepEqual(await eventuallyHeld(t, b.cache, between, 'b, handed its keys by a,'), [])
  for (const key of between) t.is(await valueOf(b, 1, key), `${key}@1#0`, `${key} from b`)
  t.is(b.board.computed, 0, 'b computed none of them')
  t.is(a.board.computed, keys.length)
})

test.serial('a value handed to a newcomer, held back on the bus until after an invalidation of its key has resolved, is not kept', async (t) => {
  const cluster = await peers(t, 'join-handed-late', 2, { version: 1, replicas: 1 })
  const [a, b] = cluster.members as [Member, Member]
  const keys = Array.from({ length: 120 }, (_, i) => `page-${i}`)
  for (const key of keys) await cached(a.cache, key, () => `${key}@old`)
  const newcomer = await cluster.add({ version: 1 })
  await cluster.settled()
  const joined = Date.now()
  const moved = cluster.keysOf(newcomer, 1000, 'page-').filter((key) => keys.includes(key))
  // Every message from or to a is held back up to 300 ms: its gives, and its confirmations of
  // b's invalidations. a's handover is due peerTimeout + heartbeat (1050 ms) after it saw the
  // newcomer join; b invalidates one moved key after another across that time.
  cluster.bus.faults({ delay: 300, peers: [a.cache.peer as string] })
  await sleep(joined + 850 - Date.now())
  const every = 700 / moved.length
  await Promise.all(moved.map(async (key, i) => {
    await sleep(i * every)
    await invalidate(b.cache, key)
  }))
  await sleep(600) // the last gives have landed
  cluster.bus.faults()
  const stale: string[] = []
  for (const key of moved) {
    for (const [at, m] of cluster.members.entries()) {
      const v = await peek(m.cache, key)
      if (v !== undefined) stale.push(`process ${at} serves ${String(v)} for ${key}`)
    }
  }
  t.deepEqual(stale, [])
})

test.serial('after a reset the newcomer owns its keys outright: a miss computes at once, without asking the previous owner', async (t) => {
  const cluster = await peers(t, 'join-after-reset', 2, { version: 1 })
  const newcomer = await cluster.add({ version: 1 })
  await cluster.settled()
  await reset(cluster.members[0]!.cache, 2)
  const keys = cluster.keysOf(newcomer, 5, 'after-')
  for (const key of keys) t.regex(await valueOf(newcomer, 2, key), new RegExp(`^${key}@2#2$`))
  t.is(newcomer.board.computed, keys.length)
})

test.serial('keys whose owner leaves the cluster with close() keep their values: it hands them over, and nothing is computed again', async (t) => {
  const cluster = await peers(t, 'leave-keys', 3, { version: 1, replicas: 1 })
  const [a, b, c] = cluster.members as [Member, Member, Member]
  const keys = Array.from({ length: 30 }, (_, i) => `page-${i}`)
  const first = new Map<string, string>()
  const leaving = cluster.keysOf(c, 1000, 'page-').filter((key) => keys.includes(key))
  t.true(leaving.length > 0, 'some keys belong to the process that leaves')
  // b's caller has its value as soon as it computed it; the value reaches the key's owner after.
  // With b's messages held back up to 100 ms, the last of the values c owns (computed last) is
  // still on its way to c when c closes, with no wait here: c waits for it, and hands it over.
  cluster.bus.faults({ delay: 100, peers: [b.cache.peer as string] })
  for (const key of [...keys.filter((key) => !leaving.includes(key)), ...leaving]) first.set(key, await valueOf(b, 1, key))
  const computed = () => [a, b, c].reduce((n, m) => n + m.board.computed, 0)
  await c.cache.close()
  cluster.bus.faults()
  t.is(computed(), keys.length)
  cluster.members.splice(cluster.members.indexOf(c), 1)
  await cluster.settled()
  for (const [index, member] of [a, b].entries()) {
    for (const key of keys) t.is(await valueOf(member, index, key), first.get(key) as string, `${key} from member ${index}`)
  }
  t.is(computed(), keys.length, 'no key was computed again')
})
