// Processes of one cluster with different heartbeats and peer timeouts (a deploy that changes
// them reaches the processes one at a time). Each process serves until its own peerTimeout after
// it last heard itself, so its peers count it out no sooner than that, and a reset that it does
// not answer waits that long; a peer's figures are honoured up to a bound, so that one hello
// cannot make every reset wait for days. The processes say they differ, once each.
// (staleness-bound.test.ts has the same guarantee with real processes, one SIGSTOPped.)
import test from 'ava'
import { cached, reset } from 'coop-cache'
import { Members } from '../src/peer/members.js'
import { within } from './helpers/cluster.js'
import { peers, type Member } from './helpers/pair.js'

const HEARTBEAT = 50
const SHORT = 1000
const LONG = 3000

let made = 0
const valueOf = (m: Member, key: string) => cached<string>(m.cache, key, () => `${key}#${++made}`)

test.serial('a reset made by a peer with a shorter peerTimeout does not resolve while a process cut off from the bus still serves by its own, longer, one', async (t) => {
  const cluster = await peers(t, 'timing-cut', 1, { heartbeat: HEARTBEAT, peerTimeout: SHORT, version: 'v1' })
  const b = await cluster.add({ peerTimeout: LONG })
  await cluster.settled()
  const [a] = cluster.members as [Member]
  const keys = [...cluster.keysOf(a, 2, 'of-a-'), ...cluster.keysOf(b, 2, 'of-b-')]
  const stored = new Map<string, string>()
  for (const key of keys) {
    const first = await valueOf(b, key)
    stored.set(key, first)
    t.is(await valueOf(b, key), first, 'a stored value, served again')
  }
  cluster.bus.cut(b.cache.peer as string)
  const cutAt = Date.now()
  await within(reset(a.cache, 'v2'), 2 * LONG, "a's reset with b cut off")
  const resolvedAfter = Date.now() - cutAt
  // b hears nothing of the reset: what it must not do is serve what it stored under v1.
  for (const key of keys) t.not(await valueOf(b, key), stored.get(key), `b served its stored ${key} after a's reset had resolved, ${resolvedAfter} ms after the cut`)
  // b last beat up to a heartbeat before the cut, and serves until its own peerTimeout after that.
  t.true(resolvedAfter >= LONG - 2 * HEARTBEAT, `the reset resolved ${resolvedAfter} ms after the cut, well before b's own peerTimeout (${LONG} ms)`)
})

test.serial('peers whose heartbeat and peerTimeout differ each warn once, naming both, and resets resolve among them', async (t) => {
  const warnings: { code?: string; message: string }[] = []
  const listen = (w: Error & { code?: string }) => warnings.push({ code: w.code, message: w.message })
  process.on('warning', listen)
  t.teardown(() => process.off('warning', listen))
  const cluster = await peers(t, 'timing-warn', 1, { heartbeat: HEARTBEAT, peerTimeout: SHORT })
  await cluster.add({ heartbeat: 100, peerTimeout: LONG })
  await cluster.add({ heartbeat: 150, peerTimeout: LONG })
  await cluster.settled()
  const [a] = cluster.members as [Member]
  await within(reset(a.cache, 'v2'), SHORT, 'a reset with every peer live')
  await new Promise((resolve) => setImmediate(resolve))
  const said = warnings.filter((w) => w.code === 'COOP_CACHE_PEER_TIMING').map((w) => w.message)
  t.is(said.length, 3, `each of the three processes warns once:\n${said.join('\n')}`)
  t.true(said.some((m) => /with heartbeat (100|150) ms and peerTimeout 3000 ms, where this process has 50 and 1000\. Resets and changes wait for the longest/.test(m)), said.join('\n'))
  t.true(said.some((m) => /with heartbeat (50|100|150) ms and peerTimeout (1000|3000) ms, where this process has (100|150) and 3000/.test(m)), said.join('\n'))
  t.false(said.some((m) => m.includes('does not wait for')), 'no figure here is past what a peer honours')
})

test('a peer\'s peerTimeout is honoured up to four times the process\'s own, and its heartbeat up to half of that', (t) => {
  const members = new Members('self', { heartbeat: HEARTBEAT, peerTimeout: SHORT })
  t.is(Members.bound({ heartbeat: HEARTBEAT, peerTimeout: SHORT }), 4 * SHORT)
  t.true(members.heard('sane', 0, { heartbeat: 100, peerTimeout: LONG }))
  t.is(members.timeoutOf('sane'), LONG)
  t.is(members.ownTimeoutOf('sane'), LONG)
  t.deepEqual(members.widest(), { heartbeat: 100, peerTimeout: LONG })
  t.true(members.heard('shorter', 0, { heartbeat: 10, peerTimeout: 100 }))
  t.is(members.timeoutOf('shorter'), SHORT, 'counted out after this process\'s own timeout, the longer')
  t.is(members.ownTimeoutOf('shorter'), 100)
  t.deepEqual(members.widest(), { heartbeat: 100, peerTimeout: LONG }, 'shorter figures change nothing')
  t.true(members.heard('boastful', 0, { heartbeat: 2 ** 31 - 1, peerTimeout: 2 ** 31 - 1 }))
  t.is(members.timeoutOf('boastful'), 4 * SHORT)
  t.deepEqual(members.widest(), { heartbeat: 2 * SHORT, peerTimeout: 4 * SHORT })
  t.true(members.heard('odd', 0, { heartbeat: 1500, peerTimeout: 2000 }))
  t.deepEqual(members.widest(), { heartbeat: 2 * SHORT, peerTimeout: 4 * SHORT })
  const odd = new Members('self', { heartbeat: HEARTBEAT, peerTimeout: SHORT })
  odd.heard('odd', 0, { heartbeat: 1500, peerTimeout: 2000 })
  t.deepEqual(odd.widest(), { heartbeat: 1000, peerTimeout: 2000 }, 'a heartbeat of more than half its timeout, as no process has, is taken at half')
})

test('a peer is counted out only once its own timeout, or this process\'s if longer, has passed without a word', (t) => {
  const members = new Members('self', { heartbeat: HEARTBEAT, peerTimeout: SHORT })
  members.heard('short', 0, { heartbeat: HEARTBEAT, peerTimeout: 200 })
  members.heard('long', 0, { heartbeat: HEARTBEAT, peerTimeout: LONG })
  members.heard('boastful', 0, { heartbeat: HEARTBEAT, peerTimeout: 2 ** 31 - 1 })
  t.deepEqual(members.expire(SHORT), [])
  t.deepEqual(members.expire(SHORT + 1), ['short'])
  t.deepEqual(members.expire(LONG), [])
  t.deepEqual(members.expire(LONG + 1), ['long'])
  t.deepEqual(members.expire(4 * SHORT), [])
  t.deepEqual(members.expire(4 * SHORT + 1), ['boastful'])
  // Gone, its figures still count: a peer that left may still serve.
  t.deepEqual(members.widest(), { heartbeat: HEARTBEAT, peerTimeout: 4 * SHORT })
})
