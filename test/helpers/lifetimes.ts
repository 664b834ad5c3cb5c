// What the TTL and grace tests read from a cluster's stampedes: which values came, and how
// (status.outcome), counted; and waits that end past a moment, never bounded by one.
//
// When a value surely has expired: a value's life starts where it is stored — at its owner,
// which may be after the computing call has resolved (its put is on its way) — and a copy in
// another process lives what the owner's had left when it was sent, from when it arrives. So
// the tests store their first values by one call in the key's owner process, and wait until
// that process's owners have handled it (`storeAtOwner`); copies fetched later expire no later
// than `ttl` after the calls that fetched them resolved.
import type { Key } from 'coop-cache'
import type { Cluster, Stampede } from './cluster.js'
import { waitFor } from '../fixtures/cluster-peer.js'
import type { CallLife, FnSpec, Outcome } from './board.js'
import { outcomesOf, sleep } from './cluster.js'

/** How many calls got each value, and how: `{ 'old stale': 40, 'new computed': 1, ... }`. */
export function tally(runs: readonly Stampede[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const { outcome } of outcomesOf(runs)) {
    const seen = outcome.ok ? `${String(outcome.value)} ${outcome.status ?? ''}`.trim() : `${outcome.name}: ${outcome.message}`
    counts[seen] = (counts[seen] ?? 0) + 1
  }
  return counts
}

/** The values the calls of `runs` got (an error as `name: message`). */
export function valuesIn(runs: readonly Stampede[]): Set<unknown> {
  return new Set(outcomesOf(runs).map(({ outcome }) => (outcome.ok ? outcome.value : `${outcome.name}: ${outcome.message}`)))
}

/** How the calls of `runs` got their values (status.outcome). */
export function howsIn(runs: readonly Stampede[]): Set<unknown> {
  return new Set(outcomesOf(runs).map(({ outcome }) => (outcome.ok ? outcome.status : 'failed')))
}

/**
 * Computes each of `keys` by one call in its owner process with `spec` and `life`; resolves with
 * the outcomes once the owner has stored them, and the instant it had by.
 */
export async function storeAtOwner(cluster: Cluster, keys: readonly Key[], spec: FnSpec, life: CallLife): Promise<{ outcomes: Outcome[]; storedBy: number }> {
  const outcomes = await Promise.all(
    keys.map(async (key) => {
      const owner = cluster.ownerOf(key)
      const got = await owner.do({ op: 'call', key, spec, options: life })
      await owner.stats(true) // returns once this thread's owners have handled all it sent: the put too
      return got
    }),
  )
  return { outcomes, storedBy: Date.now() }
}

/** Resolves once `ms` have passed since the instant `since` (Date.now()). */
export async function past(since: number, ms: number): Promise<void> {
  const left = since + ms - Date.now()
  if (left > 0) await sleep(left + 20)
}

/**
 * Resolves once the cluster has started at least `n` computations in all; fails after `ms`, or
 * as soon as `given()` says to give up.
 */
export async function computations(cluster: Cluster, n: number, ms = 20_000, given = () => false): Promise<number> {
  let seen = 0
  await waitFor(() => `${n} computations in the cluster to start (${seen} did)`, async () => given() || (seen = await cluster.computed()) >= n, ms)
  return seen
}

/**
 * Resolves once the cluster has started at least `n` computations, which the calls of `runs` are
 * to wait for (held at a gate); fails at once if those calls all end first, served without them.
 */
export async function heldFor(cluster: Cluster, n: number, runs: readonly { readonly done: Promise<Stampede> }[]): Promise<number> {
  let ended = false
  const served = Promise.all(runs.map((r) => r.done)).then((done) => {
    ended = true
    throw new Error(`every call was answered without waiting for a computation: ${JSON.stringify(tally(done))}`)
  })
  served.catch(() => {})
  return Promise.race([computations(cluster, n, 20_000, () => ended), served])
}

/** Opens `gate` in every live peer. */
export async function openEverywhere(cluster: Cluster, gate: number): Promise<void> {
  await Promise.all(cluster.live().map((p) => p.open(gate)))
}
