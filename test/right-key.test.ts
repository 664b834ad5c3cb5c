// Guarantee 6: a caller only ever receives a value computed for the key it asked for — across
// owner restarts, and whatever answers a peer sends for requests that are over or not its own.
import test from 'ava'
import { serialize } from 'node:v8'
import { cached } from 'coop-cache'
import { supervisorOf } from '../src/host/registry.js'
import { encodeKey } from '../src/shared/key.js'
import type { Stamp } from '../src/shared/memory/epoch.js'
import { CallerThread } from './helpers/callers.js'
import { outcome } from './helpers/board.js'
import { eventually, within } from './helpers/cluster.js'
import { peers } from './helpers/pair.js'
import { Rogue } from './helpers/rogue.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test.serial("a restarted owner's new requests are never answered with the value of its old instance's request for another key", async (t) => {
  const cluster = await peers(t, 'right-key', 2, { nearLimit: 0, peerTimeout: 2000 })
  const [a, b] = cluster.members as [(typeof cluster.members)[number], (typeof cluster.members)[number]]
  const [k1, k2] = cluster.keysOf(a, 2)
  // a computes k1 slowly; b's worker waits in a's flight for it, through b's owner thread
  let release!: (value: string) => void
  const slow = cached(a.cache, k1 as string, () => new Promise<string>((resolve) => (release = resolve)))
  await sleep(100)
  const worker = new CallerThread(b.cache, b.board)
  t.teardown(() => worker.end())
  const asked = worker.cached(k1, { value: 'computed in b' })
  asked.done.catch(() => {}) // its thread is ended below
  await asked.issued
  await sleep(300)
  // b's owner thread crashes (and restarts), and the thread that asked for k1 goes too
  await supervisorOf(b.cache)!.crash(0)
  await worker.end()
  // b's new owner instance numbers its requests anew: its first asks a for k2
  const second = outcome(cached(b.cache, k2 as string, async () => `value of ${k2}`))
  await sleep(300)
  release(`value of ${k1}`)
  t.is(await slow, `value of ${k1}`)
  t.deepEqual(await within(second, 5000, `b's call for ${k2}`), { ok: true, value: `value of ${k2}` })
  t.is(await cached(b.cache, k2 as string, async () => 'recomputed'), `value of ${k2}`)
})

test.serial('an answer that names an open request but another key is refused and counted, and the request is answered rightly', async (t) => {
  const cluster = await peers(t, 'right-key-lie', 2, { nearLimit: 0 })
  const [a, b] = cluster.members as [(typeof cluster.members)[number], (typeof cluster.members)[number]]
  const [key] = cluster.keysOf(a, 1)
  // The rogue joins under a's peer id: a bus that cannot tell senders apart gives it what b sends a.
  const rogue = await Rogue.join(cluster.bus, cluster.name, { id: a.cache.peer as string })
  t.teardown(() => rogue.leave())
  let release!: (value: string) => void
  const slow = cached(a.cache, key as string, () => new Promise<string>((resolve) => (release = resolve)))
  await sleep(50)
  const call = outcome(cached(b.cache, key as string, async () => 'computed in b'))
  await eventually(t, () => "the rogue to hear b's get", () => rogue.of('get').some((m) => m.f === b.cache.peer))
  const get = rogue.of('get').find((m) => m.f === b.cache.peer) as { s: Stamp; o: number; i: string; r: number }
  const before = (await b.cache.stats({ local: true })).dropped
  rogue.send(b.cache.peer as string, { t: 'value', s: get.s, o: get.o, i: get.i, r: get.r, k: encodeKey('another key'), v: serialize('another key\'s value'), h: true })
  await eventually(t, () => 'b to count the refused answer', async () => (await b.cache.stats({ local: true })).dropped > before)
  release('right value')
  t.is(await slow, 'right value')
  t.deepEqual(await within(call, 5000, "b's call"), { ok: true, value: 'right value' })
})
