// Scenario 8: coop-cache beside the peers, what a user would pick instead (issue 10): lru-cache
// in one process, and across processes bentocache (memory L1 + Redis L2 + Redis bus) and
// async-cache-dedupe (Redis storage), each set up as its own docs recommend (lib/subjects.ts).
// All in one run, subjects interleaved and their order rotated each round, medians over rounds.
//
// Across three processes A, B, C (lib/peers-across.ts; each process lib/peers-process.ts), every
// subject on the Redis at COOP_CACHE_REDIS_URL:
//
// 1. a hit on a hot key in one thread (A): throughput, beside lru-cache `await fetch()`;
// 2. a cold-key stampede, 1,000 callers in each process on 50 keys, fn 50 ms: computations, each
//    process counting its own, and the wall time from release to the last answer;
// 3. the first hit in C of a value computed in A (for coop-cache, keys A owns), one at a time
//    over fresh keys (p50) and with 256 in flight; beside a plain Redis GET and the Redis bus's
//    own ping round trip between the same two processes (lib/floor.ts);
// 4. the same value asked again in C (p50);
// 5. invalidating everything (coop-cache `reset`, bentocache `clear()`, async-cache-dedupe
//    `clear(name)`) at 1,000 entries, until no process serves the old value.
//
// And with no broker (lib/peers-local.ts): 6. RSS per entry and 7. the rate of a fill, each fill
// in a fresh process (lib/fill-process.ts); 8. a stampede inside one process. The section is
// written by lib/peers-report.ts, what it says of the aims by lib/aims-peers.ts.
//
// Alone: `npm run build && node dist/bench/peers.js`

import { loadavg } from 'node:os'
import { unreachable } from './lib/brokers.js'
import type { Filled, Shape } from './lib/fill-process.js'
import { Rounds } from './lib/measure.js'
import { acrossProcesses, rotate, type Across } from './lib/peers-across.js'
import { fillOnce, localStampede, type FillLib, type LocalRound } from './lib/peers-local.js'
import { report } from './lib/peers-report.js'
import { isEntry, runAlone, type Options, type Section } from './lib/scenario.js'

export interface Sizes {
  readonly hotCalls: number
  /** calls of a hot-key hit that goes to Redis (async-cache-dedupe) */
  readonly hotRedisCalls: number
  readonly latencyCalls: number
  readonly pipelinedCalls: number
  readonly warmLatency: number
  readonly warmPipelined: number
  readonly stampedeKeys: number
  readonly stampedeCallers: number
  readonly entries: number
  /** of the entries, how many B and C ask for (and so hold) before each clear */
  readonly held: number
  readonly clears: number
  readonly rssIds: number
  readonly rssStrings: number
  readonly fillRateN: number
  readonly localCallers: number
  readonly localKeys: number
}

function sizesOf(options: Options): Sizes {
  return options.quick
    ? { hotCalls: 20_000, hotRedisCalls: 500, latencyCalls: 200, pipelinedCalls: 1_000, warmLatency: 50, warmPipelined: 200, stampedeKeys: 50, stampedeCallers: 200, entries: 1_000, held: 20, clears: 3, rssIds: 100_000, rssStrings: 20_000, fillRateN: 20_000, localCallers: 1_000, localKeys: 50 }
    : { hotCalls: 50_000, hotRedisCalls: 2_000, latencyCalls: 1_000, pipelinedCalls: 2_000, warmLatency: 200, warmPipelined: 1_000, stampedeKeys: 50, stampedeCallers: 1_000, entries: 1_000, held: 100, clears: 10, rssIds: 1_000_000, rssStrings: 100_000, fillRateN: 50_000, localCallers: 1_000, localKeys: 50 }
}


/** In rotated order: round r starts at the r-th subject. */
export interface Fills {
  /** RSS and rate at full size, one fill each in a fresh process */
  readonly rss: Record<Shape, Record<FillLib, Filled>>
  /** entries/s of a smaller fill {id}, fresh process each, over rounds */
  readonly rate: Record<FillLib, Rounds>
}

/** Fills of each size per subject for the RSS rows: one fill's RSS moved by up to an eighth from one run to the next here. */
const RSS_FILLS = 3

async function fills(sizes: Sizes, options: Options): Promise<Fills> {
  const rss = { id: {}, kb: {} } as Record<Shape, Record<FillLib, Filled>>
  for (const [shape, n] of [['id', sizes.rssIds], ['kb', sizes.rssStrings]] as const) {
    const each: Record<FillLib, Filled[]> = { coop: [], lru: [] }
    for (let r = 0; r < RSS_FILLS; r++) for (const lib of rotate(['coop', 'lru'] as const, r)) each[lib].push(await fillOnce(lib, shape, n))
    // The fill whose RSS growth is the median of the subject's, with its own rate and empty cache.
    for (const lib of ['coop', 'lru'] as const) rss[shape][lib] = [...each[lib]].sort((a, b) => a.rssFull - a.rssStart - (b.rssFull - b.rssStart))[RSS_FILLS >> 1] as Filled
  }
  const rate = { coop: new Rounds(), lru: new Rounds() }
  for (let r = 0; r < options.rounds; r++) {
    for (const lib of rotate(['coop', 'lru'] as const, r)) rate[lib].addRate((await fillOnce(lib, 'id', sizes.fillRateN)).rate)
  }
  return { rss, rate }
}

async function localRounds(sizes: Sizes, options: Options): Promise<Record<FillLib, LocalRound[]>> {
  const out: Record<FillLib, LocalRound[]> = { coop: [], lru: [] }
  const local = { callers: sizes.localCallers, keys: sizes.localKeys }
  // One round of each first, not measured: the first stampedes of a process run its callers'
  // code cold (coop-cache's first three rounds took 34-42 ms here, the next three 24-27 ms).
  for (const lib of ['coop', 'lru'] as const) await localStampede(lib, local, -1)
  for (let r = 0; r < options.rounds; r++) {
    for (const lib of rotate(['coop', 'lru'] as const, r)) out[lib].push(await localStampede(lib, local, r))
  }
  return out
}

export async function peers(options: Options): Promise<Section> {
  const sizes = sizesOf(options)
  const startedAt = new Date()
  const load = loadavg()
  const why = await unreachable('redis')
  const across = why === undefined ? await acrossProcesses(sizes, options) : undefined
  const filled = await fills(sizes, options)
  const local = await localRounds(sizes, options)
  return report({ across, why, filled, local }, sizes, options, { startedAt, load })
}

/** What the section is written from. */
export interface Results {
  readonly across: Across | undefined
  /** why the rows across processes did not run */
  readonly why: string | undefined
  readonly filled: Fills
  readonly local: Record<FillLib, LocalRound[]>
}

if (isEntry(import.meta.url)) await runAlone(peers)
