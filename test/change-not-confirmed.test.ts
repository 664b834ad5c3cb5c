// invalidate() and set() resolve only once every live peer has carried them out. A member that
// keeps beating but never confirms (broken, or hostile) makes them reject with
// ChangeNotConfirmedError naming it, within peerTimeout + heartbeat, rather than report a change
// that may not hold there; one that confirms lets them resolve.
import test, { type ExecutionContext } from 'ava'
import { ChangeNotConfirmedError, cached, createCache, invalidate, memoryBus, set, type Cache } from 'coop-cache'
import { sleep } from './helpers/fault-peers.js'
import { losingFirst } from './helpers/losing-bus.js'
import type { Member } from './helpers/pair.js'
import { Rogue, type Heard } from './helpers/rogue.js'

const HEARTBEAT = 50
const PEER_TIMEOUT = 400

/** A cache and a rogue member that beats as the cache's peer would (copying its stamp and version), and answers changes if `confirms`. */
async function withMember(t: ExecutionContext, name: string, confirms: boolean): Promise<{ cache: Cache; rogue: Rogue }> {
  const bus = memoryBus()
  const cache = await createCache({ name, threads: 1, bus, heartbeat: HEARTBEAT, peerTimeout: PEER_TIMEOUT })
  t.teardown(() => cache.close())
  const rogue = await Rogue.join(bus, name)
  t.teardown(() => rogue.leave())
  const beat = () => {
    const real = rogue.of('beat').at(-1)
    if (real !== undefined) rogue.broadcast({ t: 'beat', s: real.s, v: real.v, n: Array(14).fill(0), host: 'rogue-host', pid: 1, hb: HEARTBEAT, pto: PEER_TIMEOUT } as Heard)
    if (!confirms) return
    for (const change of rogue.heard.splice(0).filter((m) => m.t === 'inv' || m.t === 'set')) rogue.send(change.f as string, { t: 'applied', ci: change.ci as number })
  }
  const timer = setInterval(beat, HEARTBEAT / 2)
  t.teardown(() => clearInterval(timer))
  await cache.ready({ peers: 2, timeout: 5000 })
  return { cache, rogue }
}

test('a live member that never confirms an invalidation or a set makes it reject with ChangeNotConfirmedError, naming it', async (t) => {
  const { cache, rogue } = await withMember(t, 'not-confirmed', false)
  const started = Date.now()
  const error = await t.throwsAsync(invalidate(cache, 'k'), { instanceOf: ChangeNotConfirmedError })
  t.is(error?.code, 'ERR_COOP_CACHE_NOT_CONFIRMED')
  t.deepEqual(error?.peers, [rogue.id])
  t.regex(error?.message ?? '', /did not confirm it in time and may still serve the old value/)
  t.true(Date.now() - started >= PEER_TIMEOUT, 'it waited for the member as long as a member may be silent')
  t.true(rogue.of('inv').length >= 2, 'the change was sent to it again while it did not confirm')
  await t.throwsAsync(set(cache, 'k', 'v'), { instanceOf: ChangeNotConfirmedError })
})

test('a live member that confirms lets an invalidation and a set resolve', async (t) => {
  const { cache } = await withMember(t, 'confirmed', true)
  await t.notThrowsAsync(invalidate(cache, 'k'))
  await t.notThrowsAsync(set(cache, 'k', 'v'))
})

// A broker that dies does not drop its clients all at once. One of three peers loses the bus
// first, and invalidates a key the others hold: once while it still sees them, once after it
// has cut itself off (its view then is empty). The others lose the bus 300 ms later, and serve
// what they stored until peerTimeout after that. Neither invalidation may resolve while they
// still do: the first process cannot know they carried it out, and says so.
test('an invalidation made by a process that lost the bus does not resolve while peers that lost it later still serve the old value', async (t) => {
  const { first, later, keys, loseIt } = await losingFirst(t, 'lost-change', 'old')
  const start = loseIt()
  /** Settles `change`; when it resolved, no process may serve the old value then. */
  const settled = async (change: Promise<void>, key: string, member: Member) => {
    const outcome = await change.then(() => undefined, (error: unknown) => error)
    const at = Date.now() - start
    if (outcome === undefined) t.not(await cached(member.cache, key, () => 'new'), 'old', `resolved at +${at} ms, and the old value was served after it`)
    return { outcome, at }
  }
  await sleep(500)
  const whileSeen = settled(invalidate(first.cache, keys[0] as string), keys[0] as string, later[0] as Member)
  await sleep(800) // the first has cut itself off (+1000 ms)
  const cutOff = await settled(invalidate(first.cache, keys[1] as string), keys[1] as string, later[1] as Member)
  const seen = await whileSeen
  t.log(`settled at +${seen.at} and +${cutOff.at} ms`)
  for (const { outcome } of [seen, cutOff]) {
    t.true(outcome instanceof ChangeNotConfirmedError, `not confirmed: ${String(outcome)}`)
    // those it had not counted out yet when it cut itself off (its timer decides which)
    const named = (outcome as ChangeNotConfirmedError).peers ?? []
    t.deepEqual(named.filter((peer) => !later.some((m) => m.cache.peer === peer)), [], 'it names only peers it saw')
  }
})

// The process that loses the bus first may go on hearing its own messages a little longer than
// its peers': here it hears no peer from +0, its own messages until +200, and the others lose
// the bus at +500. It counts them out (+1000) before it cuts itself off (+1200), but they heard
// it, and themselves, until later, and serve until +1500: counting a peer out proves nothing
// unless this process heard back a message of its own sent since.
test('a process that counts its peers out as its own link dies confirms no change by that', async (t) => {
  const { first, later, keys, loseIt } = await losingFirst(t, 'deaf-first', 'old')
  const start = loseIt({ deafFor: 200, later: 500 })
  await sleep(300)
  const outcome = await invalidate(first.cache, keys[0] as string).then(() => undefined, (error: unknown) => error)
  const at = Date.now() - start
  if (outcome === undefined) t.not(await cached((later[0] as Member).cache, keys[0] as string, () => 'new'), 'old', `resolved at +${at} ms, and the old value was served after it`)
  else t.true(outcome instanceof ChangeNotConfirmedError, String(outcome))
  t.log(`settled at +${at} ms: ${outcome === undefined ? 'resolved' : (outcome as Error).name}`)
})
