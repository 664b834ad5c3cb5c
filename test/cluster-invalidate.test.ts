// invalidate(cache, key) across processes: once it has resolved in one process, every process
// is served the key's new value, computed once in the whole cluster, wherever the key is owned;
// and a computation of the key under way in another process is fenced there (its signal
// aborts, its value reaches nobody) while every waiter in the cluster gets a new one. Three
// real processes on the ipc bus.
import test, { type ExecutionContext } from 'ava'
import type { Key } from 'coop-cache'
import { eventually, outcomesOf, startCluster, within, type Cluster, type Peer } from './helpers/cluster.js'
import { only, servedEverywhere } from './helpers/everywhere.js'

/** A key that `owner` owns. */
function ownedBy(cluster: Cluster, owner: Peer, word: string): Key {
  for (let i = 0; ; i++) if (cluster.ownerOf([word, i]) === owner) return [word, i]
}

async function invalidated(from: Peer, key: Key): Promise<string> {
  const done = await from.do({ op: 'invalidate', key, prefix: false })
  return done.ok ? 'resolved' : done.message
}

test.serial('after invalidate resolves in one process, every process gets the new value, computed once in the cluster, wherever the key is owned', async (t) => {
  const cluster = await startCluster(t, { bus: 'ipc', size: 3, name: 'invalidate-cluster', peerTimeout: 3000 })
  const [a, b, c] = cluster.peers as [Peer, Peer, Peer]
  const keys = [a, b, c].map((owner) => ownedBy(cluster, owner, `doc-of-${owner.index}`))
  const bystander = ownedBy(cluster, b, 'bystander')
  const all = [...keys, bystander]
  t.deepEqual(await servedEverywhere(cluster.peers, all, 'old'), only(all, () => 'old'))
  t.deepEqual(await servedEverywhere(cluster.peers, all, 'old'), only(all, () => 'old'))
  t.is(await cluster.computed(), all.length)
  for (const [i, key] of keys.entries()) {
    t.is(await invalidated(a, key), 'resolved')
    t.deepEqual(await servedEverywhere(cluster.peers, all, 'new'), only(all, (k) => (keys.indexOf(k) >= 0 && keys.indexOf(k) <= i ? 'new' : 'old')), `the key owned by peer ${i}`)
    t.is(await cluster.computed(), all.length + i + 1, `the key owned by peer ${i}: one more computation in the cluster`)
  }
})

/**
 * A key owned by c is computed in b, held at b's gate 0, and waited for in a and c; a invalidates
 * it; then every gate opens. What every caller got, and what each peer computed and saw aborted.
 */
async function fencedInAnotherProcess(t: ExecutionContext) {
  const cluster = await startCluster(t, { bus: 'ipc', size: 3, name: 'invalidate-fenced', peerTimeout: 3000 })
  const [a, b, c] = cluster.peers as [Peer, Peer, Peer]
  const key = ownedBy(cluster, c, 'fenced')
  const computing = b.stampede([key], 1, { value: 'b', seq: true, gate: 0 })
  await computing.issued
  await b.computed(1)
  const waiting = [a, c].map((p) => p.stampede([key], 2, { value: p === a ? 'a' : 'c', seq: true, gate: 0 }))
  await within(Promise.all(waiting.map((w) => w.issued)), 20_000, 'the waiters to ask')
  t.is(await invalidated(a, key), 'resolved')
  // b's computation is told while it still runs; a new one starts somewhere, held at its gate too
  await eventually(t, () => "b's fenced computation to see its signal abort", async () => (await b.state()).aborted >= 1, 20_000)
  await eventually(t, () => 'a new computation to start', async () => (await cluster.computed()) >= 2, 20_000)
  await Promise.all(cluster.peers.map((p) => p.open(0)))
  const outcomes = outcomesOf(await Promise.all([computing, ...waiting].map((r) => r.done)))
  const values = new Set(outcomes.map(({ outcome }) => (outcome.ok ? String(outcome.value) : outcome.message)))
  const states = await Promise.all(cluster.peers.map((p) => p.state()))
  t.log(`served ${[...values].join(', ')}; computed ${states.map((s) => s.computed).join(', ')}; aborted ${states.map((s) => s.aborted).join(', ')}`)
  return { calls: outcomes.length, values, computed: states.map((s) => s.computed), aborted: states.map((s) => s.aborted) }
}

test.serial('a computation under way in another process when its key is invalidated is fenced there, and every waiter in the cluster gets a new one', async (t) => {
  const { calls, values, aborted } = await fencedInAnotherProcess(t)
  t.is(calls, 2 + 2 * 2 * 2)
  t.is(values.size, 1, `one value for every caller: ${[...values].join(', ')}`)
  t.false(values.has('b~1'), 'the fenced computation reached nobody')
  t.true((aborted[1] as number) >= 1, "b's fenced computation saw its signal abort")
})

// invalidate carries the change in two confirmed rounds (PeerAgent.change); the second must not
// fence the computation that the first round's requeue started, or the key is computed twice
// or three times.
test('a computation fenced in another process is replaced by exactly one new computation in the cluster', async (t) => {
  const { computed, aborted } = await fencedInAnotherProcess(t)
  t.is(computed.reduce((x, y) => x + y, 0), 2)
  t.deepEqual(aborted, [0, 1, 0])
})
