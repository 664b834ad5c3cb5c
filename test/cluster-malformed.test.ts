// Guarantee 5 on the bus, for messages that have the shape of a cache's message but carry
// something no peer can take: a version that does not deserialize or is longer than a version
// may be, a stamp whose origin is longer than a peer id, a clock past what the shared clock
// holds. Such a message may come from a peer of another build or a broken one. Each must be
// refused and counted like any malformed message, and no peer may crash, hang, or change.
//
// The peers are real processes on the ipc bus, since what goes wrong may be a crash or a
// busy hang; this process routes the bus and joins it as an intruder to send the messages.
import test, { type ExecutionContext } from 'ava'
import { serialize } from 'node:v8'
import { Seal } from '../src/peer/seal.js'
import { outcomesOf, sleep, startCluster, type Peer } from './helpers/cluster.js'

let sequence = 0
/** `message` for cache `name`, in an unsigned envelope as a peer without a secret sends it. */
const sealed = (name: string, message: Record<string, unknown>) =>
  new Seal(name, []).seal(serialize({ c: name, q: ++sequence, ts: Date.now(), to: '', ...message }))

const HEARTBEAT = 100
const KEYS = ['report-1', 'report-2', 'report-3']

/** Each peer's state and dropped count, or why it could not say within 5 s (dead, or hung). */
async function look(peers: readonly Peer[]) {
  return Promise.all(
    peers.map(async (p) => {
      try {
        const [state, stats] = await Promise.all([p.do({ op: 'state' }, 5000), p.do({ op: 'stats', local: true }, 5000)])
        return { version: state.version, epoch: state.epoch, dropped: stats.dropped } as { version: unknown; epoch: number; dropped: number; failed?: string }
      } catch (error) {
        return { failed: (error as Error).message } as { version?: unknown; epoch?: number; dropped?: number; failed: string }
      }
    }),
  )
}

/**
 * Sends `message` (a cache message without `c` and `f`, in the name of peer 1) on the bus,
 * and checks that every peer refused and counted it, and goes on as before.
 */
async function refused(t: ExecutionContext, message: Record<string, unknown>): Promise<void> {
  const cluster = await startCluster(t, { bus: 'ipc', size: 2, heartbeat: HEARTBEAT, version: 'v1', name: 'malformed' })
  const peers = cluster.peers
  const intruder = await cluster.hub!.join(cluster.name, 'intruder', () => {})
  t.teardown(() => intruder.leave())
  const before = await look(peers)
  intruder.broadcast(sealed(cluster.name, { f: (peers[1] as Peer).peer, ...message }))
  await sleep(5 * HEARTBEAT)
  const after = await look(peers)
  t.deepEqual(
    after,
    before.map((b) => ({ ...b, dropped: (b.dropped ?? 0) + 1 })),
    'every peer is alive, answers, keeps its version and epoch, and counted one dropped message',
  )
  // and serves values of its version
  const done = await Promise.all(peers.filter((p) => p.alive).map((p) => p.stampede(KEYS, 2, { withVersion: true }).done))
  t.deepEqual(new Set(outcomesOf(done).map(({ outcome }) => (outcome.ok ? outcome.value : outcome.message))), new Set(KEYS.map((k) => `${k}@v1`)))
}

test.serial('a beat whose version does not deserialize is dropped and counted, and every peer goes on', (t) =>
  refused(t, { t: 'beat', s: { clock: 9, origin: 'zzz', born: 0 }, v: new Uint8Array([1, 2, 3]), n: Array(14).fill(0), host: 'zzz', pid: 1, hb: HEARTBEAT, pto: 10 * HEARTBEAT }),
)

test.serial('a beat whose version is longer than a version may be (4 KiB) is dropped and counted, and every peer goes on', (t) =>
  refused(t, { t: 'beat', s: { clock: 9, origin: 'zzz', born: 0 }, v: serialize('x'.repeat(10_000)), n: Array(14).fill(0), host: 'zzz', pid: 1, hb: HEARTBEAT, pto: 10 * HEARTBEAT }),
)

test.serial('a reset whose origin is longer than a peer id may be (64 bytes) is dropped and counted, and every peer goes on', (t) =>
  refused(t, { t: 'reset', s: { clock: 9, origin: 'z'.repeat(100), born: 0 }, v: serialize('v9') }),
)

test.serial('a reset stamped with a clock past 2^31 is taken for good or refused: no peer goes back to an older version or epoch', async (t) => {
  const cluster = await startCluster(t, { bus: 'ipc', size: 2, heartbeat: HEARTBEAT, version: 'v1', name: 'malformed-clock' })
  const peers = cluster.peers
  const intruder = await cluster.hub!.join(cluster.name, 'intruder', () => {})
  t.teardown(() => intruder.leave())
  const epochs = (await Promise.all(peers.map((p) => p.state()))).map((s) => s.epoch)
  intruder.broadcast(sealed(cluster.name, { f: (peers[1] as Peer).peer, t: 'reset', s: { clock: 2 ** 40, origin: 'z', born: 0 }, v: serialize('v9') }))
  await sleep(5 * HEARTBEAT)
  const states = await Promise.all(peers.map((p) => p.state()))
  t.log(states.map((s) => `version ${String(s.version)}, epoch ${s.epoch}, onReset called with ${JSON.stringify(s.resets)}`).join('; '))
  for (const [i, s] of states.entries()) {
    // taken for good: onReset('v9') and the version stays v9; refused: nothing happened
    t.true(s.resets.length === 0 || (s.resets.length === 1 && s.resets[0] === 'v9'), `peer ${i} went through versions ${JSON.stringify(s.resets)}`)
    t.is(s.version, s.resets.length === 0 ? 'v1' : 'v9')
    t.true(s.epoch >= (epochs[i] as number), `peer ${i}'s epoch went from ${epochs[i]} to ${s.epoch}`)
  }
  t.deepEqual(new Set(states.map((s) => `${String(s.version)}/${s.epoch}`)).size, 1, 'the peers agree')
})
