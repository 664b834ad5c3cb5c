// Two messages a member without the secret can send, found by the fault campaign
// (fault-campaign.test.ts), that do lasting harm: the damage outlives the sender. Without a
// secret a rogue can lie for as long as it sends; once it stops, the cluster must come back with
// one reset. Each test here sends one such message, lets the rogue go, and checks that it does.
import test from 'ava'
import { serialize } from 'node:v8'
import { reset } from 'coop-cache'
import { CLOCK_MAX } from '../src/shared/memory/epoch.js'
import { eventually, sleep } from './helpers/cluster.js'
import { peers } from './helpers/pair.js'
import { Rogue } from './helpers/rogue.js'

// as pair.ts makes them
const HEARTBEAT = 50
const PEER_TIMEOUT = 1000

test('a forged reset at the largest clock decode takes does not stop later resets', async (t) => {
  const cluster = await peers(t, 'clock-max', 2)
  const [a, b] = cluster.members.map((m) => m.cache)
  const rogue = await Rogue.join(cluster.bus, cluster.name)
  rogue.broadcast({ t: 'reset', s: { clock: CLOCK_MAX, origin: rogue.id, born: 0 }, v: serialize('forged') })
  const dropped = async () => Promise.all([a!, b!].map(async (c) => (await c.stats({ local: true })).dropped))
  // taken (decode lets its clock through) or refused and counted: either way, it has arrived
  await eventually(t, () => 'the peers to take or refuse the forged reset', async () => (a?.version === 'forged' && b?.version === 'forged') || (await dropped()).every((n) => n > 0))
  await rogue.leave()
  await t.notThrowsAsync(reset(a!, 'v2'), 'a reset after it')
  t.deepEqual([a?.version, b?.version], ['v2', 'v2'])
})

test('one message forged in a peer’s name, numbered far ahead of its own, does not cut that peer off for good', async (t) => {
  const cluster = await peers(t, 'seq-ahead', 2)
  const [a, b] = cluster.members.map((m) => m.cache)
  const rogue = await Rogue.join(cluster.bus, cluster.name)
  rogue.broadcast({ t: 'hello', hb: HEARTBEAT, pto: PEER_TIMEOUT }, { f: b!.peer, q: 2 ** 31 })
  await sleep(5 * HEARTBEAT)
  await rogue.leave()
  // b goes on beating, numbering its messages from where it was: a must come to hear it again
  await t.notThrowsAsync(reset(b!, 'v2'))
  let seen = 0
  await eventually(t, () => `a to take the reset b made (a is on ${String(a?.version)} and sees ${seen} members)`, async () => {
    seen = (await a!.stats({ local: true })).peers
    return a?.version === 'v2'
  }, 5 * PEER_TIMEOUT)
})
