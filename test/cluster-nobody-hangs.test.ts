// Guarantee 3 across processes: a computer lost anywhere (its thread, its process's owner thread,
// an owner supervision gave up on) hands its flight to a waiter or settles every waiter with an
// error. Peers on a memoryBus in this process, each a cache of its own; a rogue member plays a
// third process where one is needed.
import test from 'ava'
import { Worker } from 'node:worker_threads'
import { cached } from 'coop-cache'
import { supervisorOf } from '../src/host/registry.js'
import { encodeKey } from '../src/shared/key.js'
import type { Stamp } from '../src/shared/memory/epoch.js'
import { peerOf } from '../src/shared/ring.js'
import { outcome } from './helpers/board.js'
import { eventually, within } from './helpers/cluster.js'
import { peers } from './helpers/pair.js'
import { Rogue } from './helpers/rogue.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const hangingWorker = new URL('./fixtures/hanging-computer.js', import.meta.url)

test.serial("a computer's thread that dies while another process's request for the same key is relayed here hands its flight on", async (t) => {
  const cluster = await peers(t, 'hang-leave', 2, { nearLimit: 0 })
  const [a, b] = cluster.members as [(typeof cluster.members)[number], (typeof cluster.members)[number]]
  const phantom = 'zzzz-phantom'
  // a key a owns, with or without the phantom among the members
  let key = ''
  for (let i = 0; key === ''; i++) {
    const k = encodeKey(`k${i}`)
    const two = [a.cache.peer as string, b.cache.peer as string].sort()
    if (peerOf(k, two) === a.cache.peer && peerOf(k, [...two, phantom].sort()) === a.cache.peer) key = `k${i}`
  }
  const rogue = await Rogue.join(cluster.bus, cluster.name, { id: phantom })
  t.teardown(() => rogue.leave())
  // a thread of b computes the key for a's flight, through b's remote flight, and never finishes
  const worker = new Worker(hangingWorker, { workerData: { handle: b.cache.handle, key } })
  worker.on('error', () => {})
  t.teardown(() => worker.terminate())
  await new Promise((resolve) => worker.once('message', resolve))
  // b's main thread waits in the same remote flight
  const waiting = outcome(cached(b.cache, key, async () => 'computed by b main'))
  await sleep(100)
  // the phantom thinks b owns the key: b serves its request where it lands, in a flight of its own
  await eventually(t, () => 'the rogue to hear a beat', () => rogue.of('beat').length > 0)
  const s = (rogue.of('beat').find((m) => m.f === b.cache.peer) as { s: Stamp }).s
  rogue.send(b.cache.peer as string, { t: 'get', s, o: 0, i: 'phantom-owner', r: 1, k: encodeKey(key), p: false })
  await sleep(100)
  await worker.terminate()
  t.deepEqual(await within(waiting, 5000, "b's waiting call"), { ok: true, value: 'computed by b main' })
  t.deepEqual(await within(outcome(cached(a.cache, key, async () => 'computed by a')), 3000, "a's call"), { ok: true, value: 'computed by b main' })
})

test.serial('a request from another process for a key whose owner thread was given up on ends with OwnerUnavailableError', async (t) => {
  const cluster = await peers(t, 'hang-gaveup', 2)
  const [a, b] = cluster.members as [(typeof cluster.members)[number], (typeof cluster.members)[number]]
  const warned = new Promise((resolve) => process.once('warning', resolve))
  for (let i = 0; i < 7; i++) {
    await supervisorOf(a.cache)!.crash(0)
    await sleep(40)
  }
  await warned
  const [key] = cluster.keysOf(a, 1)
  const fromB = await within(outcome(cached(b.cache, key as string, async () => 'ok')), 5000, "b's call for a key a owns")
  t.like(fromB, { ok: false, name: 'OwnerUnavailableError', code: 'ERR_COOP_CACHE_OWNER_UNAVAILABLE' })
  t.like(await outcome(cached(a.cache, key as string, async () => 'ok')), { ok: false, name: 'OwnerUnavailableError' })
})

test.serial("another process's request waiting on an owner thread that crashes is placed on its next instance and answered", async (t) => {
  const cluster = await peers(t, 'hang-restart', 2)
  const [a, b] = cluster.members as [(typeof cluster.members)[number], (typeof cluster.members)[number]]
  // The crash races the port's close against the thread's exit; a few rounds meet both orders.
  for (const [round, key] of cluster.keysOf(a, 5, 'round').entries()) {
    let release: ((value: string) => void) | undefined
    const slow = outcome(cached(a.cache, key, () => new Promise<string>((resolve) => (release = resolve))))
    await eventually(t, () => `a to compute ${key}`, () => release !== undefined)
    const fromB = outcome(cached(b.cache, key, async () => 'from b'))
    await sleep(150)
    await supervisorOf(a.cache)!.crash(0)
    await sleep(150)
    release?.('from a')
    t.deepEqual(await within(slow, 5000, `a's call, round ${round}`), { ok: true, value: 'from a' })
    const got = await within(fromB, 5000, `b's call, round ${round}`)
    t.true(got.ok && (got.value === 'from a' || got.value === 'from b'), JSON.stringify(got))
  }
})
