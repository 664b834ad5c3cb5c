// The counters of stats(): read from shared memory for this process, and summed with the
// live peers' (each peer sends its own in every heartbeat; see peer/agent.ts).
import { Counter, PEER_COUNTERS, Row } from './memory/layout.js'
import type { Shared } from './memory/shared.js'

/** The counters of `cache.stats()`: the cluster's, or with `{ local: true }` this process's. */
export interface CacheStats {
  /** calls answered from a stored entry or a near copy */
  readonly hits: number
  /** calls that found no entry (they computed or waited) */
  readonly misses: number
  /** computations started */
  readonly computes: number
  /** calls that waited for another caller's computation */
  readonly coalesced: number
  /** values stored */
  readonly stored: number
  /** values that did not fit under memoryLimit and were not stored (still returned) */
  readonly rejected: number
  /** entries dropped to make room, with policy 'evict' */
  readonly evicted: number
  /** computations that threw, timed out, returned an uncloneable value, or lost their thread */
  readonly failures: number
  /** entries stored now */
  readonly entries: number
  /** bytes of the entries stored now (never more than memoryLimit, in each process) */
  readonly bytes: number
  /** the memoryLimit (summed over the live peers, for the cluster) */
  readonly memoryLimit: number
  /** hits served from a thread's near copy, without a message */
  readonly nearHits: number
  /** bytes of near copies now, over all threads */
  readonly nearBytes: number
  /** messages refused: from the bus, malformed, forged, replayed, for another cache or another reset; from any link, not about the key of the request they name */
  readonly dropped: number
  /** the live members of the cluster, this process included (1 without a bus) */
  readonly peers: number
  /** the version of the latest reset */
  readonly version: unknown
  /** the latest reset's clock: every reset moves it forward, and with a bus it is the same on every peer */
  readonly epoch: number
  /** resets this process took (its own and its peers') */
  readonly resets: number
}

/** The counters that are summed over peers, in the order a heartbeat carries them. */
const SUMMED = [
  'hits',
  'misses',
  'computes',
  'coalesced',
  'stored',
  'rejected',
  'evicted',
  'failures',
  'entries',
  'bytes',
  'memoryLimit',
  'nearHits',
  'nearBytes',
  'dropped',
] as const

type Summed = Record<(typeof SUMMED)[number], number>
/** The counters a peer reports in each heartbeat, by name. */
export type PeerCounters = Readonly<Summed>
if (SUMMED.length !== PEER_COUNTERS) throw new Error('stats.ts and memory/layout.ts disagree on the counters a peer reports')

/** This process's summed counters, in heartbeat order. */
export function localCounters(shared: Shared, memoryLimit: number): number[] {
  const { counters, budget } = shared
  const local = counters.read(Counter.LocalCoalesced)
  const nearHits = counters.read(Counter.NearHits)
  const summed: Summed = {
    hits: counters.rowSum(Row.Hits) + nearHits + counters.read(Counter.LocalHits),
    misses: counters.rowSum(Row.Misses) + local,
    computes: counters.read(Counter.Computes),
    coalesced: counters.rowSum(Row.Coalesced) + local,
    stored: counters.rowSum(Row.Stored),
    rejected: counters.rowSum(Row.Rejected),
    evicted: counters.rowSum(Row.Evicted),
    failures: counters.read(Counter.Failures),
    entries: counters.rowSum(Row.Entries),
    // The reservation, not the sum of owners' rows: rows read one after another can catch bytes
    // one owner released and another already took, and add up past the limit.
    bytes: budget.reserved(),
    memoryLimit,
    nearHits,
    nearBytes: counters.nearBytes(),
    dropped: counters.read(Counter.Dropped),
  }
  return SUMMED.map((field) => summed[field])
}

/** Counters in heartbeat order, by name. */
export function countersOf(counters: readonly number[]): PeerCounters {
  return Object.fromEntries(SUMMED.map((field, i) => [field, counters[i] as number])) as Summed
}

/** The stats of this process, plus its live peers' unless `local`. */
export function statsOf(shared: Shared, memoryLimit: number, version: unknown, local: boolean): CacheStats {
  const counters = localCounters(shared, memoryLimit)
  if (!local) {
    const sums = shared.counters.peerSums()
    for (let i = 0; i < counters.length; i++) counters[i] = (counters[i] as number) + (sums[i] ?? 0)
  }
  return {
    ...countersOf(counters),
    peers: 1 + shared.liveness.peers(),
    version,
    epoch: shared.epochs.clock(),
    resets: shared.counters.read(Counter.Resets),
  }
}
