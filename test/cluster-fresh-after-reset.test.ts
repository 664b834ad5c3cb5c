// Guarantee 2 across processes: reset() on any peer moves every peer, and once it has resolved
// no process hands out a value computed before it — not even to calls made before it, whose
// computation straddles the reset in another process. fn returns `${key}@${version}`, with
// the version it was computing for, so a stale value shows.
import test, { type ExecutionContext } from 'ava'
import type { Outcome } from './helpers/board.js'
import { eventually, outcomesOf, sleep, startCluster, within, type Peer } from './helpers/cluster.js'

const KEYS = Array.from({ length: 6 }, (_, i) => `report-${i}`)
const STORED = Array.from({ length: 6 }, (_, i) => `page-${i}`)

/** Each of `peers` asks for every one of `keys`, `calls` times per caller thread; the values they got. */
async function valuesSeen(peers: readonly Peer[], calls: number, keys = KEYS): Promise<Set<unknown>> {
  const done = await Promise.all(peers.map((p) => p.stampede(keys, calls, { withVersion: true }).done))
  return new Set(outcomesOf(done).map(({ outcome }) => (outcome.ok ? outcome.value : `${outcome.name}: ${outcome.message}`)))
}

/** How a reset() ended, in words (its outcome crossed a JSON channel, which keeps no undefined). */
const said = (outcome: Outcome) => (outcome.ok ? 'resolved' : `rejected: ${outcome.message}`)

const valuesOf = (version: unknown, keys = KEYS) => new Set(keys.map((key) => `${key}@${String(version)}`))

test.serial('a reset from one peer while others compute leaves no stale value anywhere', async (t) => {
  const cluster = await startCluster(t, { bus: 'ipc', size: 3, version: 1, name: 'fresh' })
  const [a, b, c] = cluster.peers as [Peer, Peer, Peer]
  // Some keys are stored under version 1, and every caller thread has near copies of them.
  t.deepEqual(await valuesSeen(cluster.peers, 2, STORED), valuesOf(1, STORED))
  t.deepEqual(await valuesSeen(cluster.peers, 2, STORED), valuesOf(1, STORED))
  // b and c ask for other keys; their computations start (in b or c) and are held there.
  const running = await Promise.all([b, c].map((p) => p.computed()))
  const before = [b, c].map((p) => p.stampede(KEYS, 5, { gate: 0, withVersion: true }))
  await within(Promise.all(before.map((r) => r.issued)), 20_000, 'the calls before the reset to be made')
  await within(
    (async () => {
      while ((await b.computed()) + (await c.computed()) < running[0]! + running[1]! + KEYS.length) await sleep(20)
    })(),
    20_000,
    'every key to be computing under version 1',
  )
  t.deepEqual(said(await a.reset(2)), 'resolved')
  // Every process has taken the reset before reset() resolves in a.
  for (const p of cluster.peers) t.is((await p.state()).version, 2, `peer ${p.index}`)
  // The computations under version 1 were told: their signals aborted.
  let aborted = 0
  await eventually(t, () => `${aborted} computations saw their signal abort, not ${KEYS.length}`, async () => {
    aborted = (await Promise.all([b, c].map((p) => p.state()))).reduce((sum, s) => sum + s.aborted, 0)
    return aborted >= KEYS.length
  })
  t.is(aborted, KEYS.length)
  // They finish now: none of them may reach anyone.
  await Promise.all([b, c].map((p) => p.open(0)))
  const straddling = outcomesOf(await Promise.all(before.map((r) => r.done)))
  t.is(straddling.length, 2 * 2 * KEYS.length * 5)
  t.deepEqual(new Set(straddling.map(({ outcome }) => (outcome.ok ? outcome.value : outcome.message))), valuesOf(2))
  // And every process's next calls, stored values and near copies before, are of version 2.
  t.deepEqual(await valuesSeen(cluster.peers, 3, STORED), valuesOf(2, STORED))
  t.deepEqual(await valuesSeen(cluster.peers, 3), valuesOf(2))
  const states = await Promise.all(cluster.peers.map((p) => p.state()))
  t.deepEqual(states.map((s) => s.version), [2, 2, 2])
  // onReset told every process of the new version, once
  t.deepEqual(states.map((s) => s.resets), [[2], [2], [2]])
})

async function concurrentResets(t: ExecutionContext, bus: 'ipc' | 'memory'): Promise<void> {
  const cluster = await startCluster(t, { bus, size: 3, version: 'v0', name: 'fresh-race' })
  // On the memory bus every message takes up to 40 ms: two resets made at once cross.
  cluster.bus?.faults({ delay: 40 })
  const peers = cluster.peers
  // Each round, two peers reset to versions of their own at the same instant.
  const rounds = [
    [0, 1],
    [1, 2],
    [2, 0],
  ] as const
  for (const [round, [i, j]] of rounds.entries()) {
    const [p, q] = [peers[i] as Peer, peers[j] as Peer]
    const versions = [`r${round}-by-${i}`, `r${round}-by-${j}`]
    const epochBefore = (await p.state()).epoch
    const outcomes = await Promise.all([p.reset(versions[0]), q.reset(versions[1])])
    t.deepEqual(outcomes.map(said), ['resolved', 'resolved'])
    // Both resets have resolved, so every peer has acknowledged both: each took the later one,
    // and they all agree at once, with no time to settle.
    const states = (await Promise.all(peers.map((p) => p.state()))).map(({ version, epoch }) => ({ version, epoch }))
    t.deepEqual(
      states,
      peers.map(() => states[0]),
      `round ${round}: every peer on one version and epoch`,
    )
    const winner = states[0]?.version
    t.true(versions.includes(winner as string), `round ${round}: the winner is one of the two resets, not ${String(winner)}`)
    const moved = (states[0]?.epoch as number) - epochBefore
    t.log(`round ${round}: ${String(winner)} won; the clock moved by ${moved} (1: the two resets crossed)`)
    // With delayed messages the two resets surely crossed: both stamped the same clock.
    if (bus === 'memory') t.is(moved, 1)
    else t.true(moved >= 1)
    // every peer serves values of the winner, and only of it
    t.deepEqual(await valuesSeen(peers, 2), valuesOf(winner))
  }
}

test.serial('two concurrent resets leave every peer on the same version and epoch, on ipc', (t) => concurrentResets(t, 'ipc'))
test.serial('two concurrent resets leave every peer on the same version and epoch, on the memory bus with messages delayed', (t) =>
  concurrentResets(t, 'memory'),
)
