// Scenario 6: stored bytes, and memory, against memoryLimit.
//
// First, the count: ten times memoryLimit of distinct values is offered through cached() (every
// call a miss, so every value is computed and offered to its owner); then stats().bytes is set
// against memoryLimit, with the stored / rejected (and, with policy 'evict', evicted) counts, and
// the process's RSS. While offering, stats() is read every few hundred calls, to catch bytes
// passing the limit even for a moment.
//
// Then what the count bounds (issue 10): at each value size from 16 B to 1 MiB, a cache is filled
// to its limit in a process of its own (lib/fill.ts: RSS after gc in every thread, idle and full),
// at a small limit and at a larger one. What a MiB more of memoryLimit adds to RSS is the slope
// between the two; the aim is at most 1.25 (RSS ≤ 1.25 × memoryLimit + a fixed cost, the RSS
// the fill at the small limit adds beyond 1.25 times it: the threads' young generations and
// what the allocator keeps of messages, whatever the cache holds).
//
// Alone: `npm run build && node --expose-gc dist/bench/memory.js`

import { serialize } from 'node:v8'
import { cached, createCache } from 'coop-cache'
import { RSS_AIM, RSS_CELLS } from './lib/aims.js'
import { fillInChild, ownersGrowth, type Filled } from './lib/fill.js'
import { breathe, bytes, median, pipelined, seconds, table } from './lib/measure.js'
import { isEntry, runAlone, trace, type Options, type Section } from './lib/scenario.js'

const MiB = 1024 * 1024
const VALUE_CHARS = 4_000
const IN_FLIGHT = 64
const POLL_EVERY = 256

type Policy = 'reject' | 'evict'

interface Round {
  readonly policy: Policy
  readonly offers: number
  readonly offeredBytes: number
  readonly bytes: number
  readonly maxBytesSeen: number
  readonly entries: number
  readonly stored: number
  readonly rejected: number
  readonly evicted: number
  readonly computes: number
  readonly failures: number
  readonly seconds: number
  readonly rss: number
}

const filler = 'x'.repeat(VALUE_CHARS)
/** A distinct value of VALUE_CHARS one-byte characters. */
const valueOf = (round: number, i: number) => {
  const head = `${round}:${i}:`
  return head + filler.slice(head.length)
}

async function offer(policy: Policy, memoryLimit: number, round: number): Promise<Round> {
  trace(`memory: ${policy}, round ${round}`)
  const cache = await createCache({ name: `bench-memory-${policy}-${round}`, memoryLimit, policy })
  try {
    // Ten times memoryLimit of serialized bytes (an entry counts more than that: what it takes in memory).
    const entrySize = serialize(valueOf(round, 0)).byteLength + `m:${round}:0`.length
    const offers = Math.ceil((10 * memoryLimit) / entrySize)
    let maxBytesSeen = 0
    let polling = Promise.resolve()
    const start = process.hrtime.bigint()
    await pipelined(offers, IN_FLIGHT, async (i) => {
      await cached(cache, `m:${round}:${i}`, () => valueOf(round, i))
      if (i % POLL_EVERY === 0) {
        polling = polling.then(async () => {
          maxBytesSeen = Math.max(maxBytesSeen, (await cache.stats()).bytes)
        })
      }
    })
    await polling
    const took = seconds(start)
    // The last puts may still be on their way to the owners: wait until every offer is counted.
    let stats = await cache.stats()
    for (let tries = 0; stats.stored + stats.rejected < offers && tries < 200; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      stats = await cache.stats()
    }
    maxBytesSeen = Math.max(maxBytesSeen, stats.bytes)
    return {
      policy,
      offers,
      offeredBytes: offers * entrySize,
      bytes: stats.bytes,
      maxBytesSeen,
      entries: stats.entries,
      stored: stats.stored,
      rejected: stats.rejected,
      evicted: stats.evicted,
      computes: stats.computes,
      failures: stats.failures,
      seconds: took,
      rss: process.memoryUsage().rss,
    }
  } finally {
    await cache.close()
  }
}

export async function memory(options: Options): Promise<Section> {
  const memoryLimit = options.quick ? 1 * MiB : 8 * MiB
  const rssStart = process.memoryUsage().rss
  const rounds: Record<Policy, Round[]> = { reject: [], evict: [] }
  for (let r = 0; r < options.rounds; r++) {
    for (const policy of ['reject', 'evict'] as const) {
      rounds[policy].push(await offer(policy, memoryLimit, r))
      await breathe()
    }
  }
  const rssEnd = process.memoryUsage().rss
  const counted = report(rounds, memoryLimit, rssStart, rssEnd, options)
  const rss = await rssBySize(options)
  return { title: counted.title, markdown: `${counted.markdown}\n\n${rss.markdown}`, figures: { ...counted.figures, ...rss.figures } }
}

interface Cell {
  /** which of RSS_CELLS */
  readonly index: number
  readonly label: string
  readonly policy: Policy
  readonly small: Filled
  readonly large: Filled
  /** medians over rounds of the RSS each fill added */
  readonly smallGrowth: number
  readonly largeGrowth: number
  readonly slope: number
}

async function rssBySize(options: Options): Promise<{ markdown: string; figures: Record<string, number> }> {
  const small = options.quick ? 2 * MiB : 4 * MiB
  const large = options.quick ? 8 * MiB : 32 * MiB
  // Each fill is a process of its own and the largest take seconds: three rounds, not BENCH_ROUNDS.
  const rounds = options.quick ? 1 : 3
  const cells: Cell[] = []
  for (const [index, { shape, size, label }] of RSS_CELLS.entries()) {
    for (const policy of ['reject', 'evict'] as const) {
      const fills: { small: Filled; large: Filled }[] = []
      for (let r = 0; r < rounds; r++) {
        trace(`memory: RSS, ${label}, ${policy}, round ${r}`)
        const plan = { shape, size, policy, threads: 2 }
        fills.push({ small: await fillInChild({ ...plan, memoryLimit: small }), large: await fillInChild({ ...plan, memoryLimit: large }) })
      }
      const growth = (f: Filled) => f.full.rss - f.idle.rss
      const smallGrowth = median(fills.map((f) => growth(f.small)))
      const largeGrowth = median(fills.map((f) => growth(f.large)))
      const last = fills[fills.length - 1] as { small: Filled; large: Filled }
      cells.push({ index, label, policy, ...last, smallGrowth, largeGrowth, slope: (largeGrowth - smallGrowth) / (large - small) })
    }
  }
  return rssReport(cells, small, large, rounds)
}

function rssReport(cells: readonly Cell[], small: number, large: number, rounds: number): { markdown: string; figures: Record<string, number> } {
  const per = (n: number, entries: number) => (entries > 0 ? `${Math.round(n / entries).toLocaleString('en-US')} B` : '–')
  const markdown = [
    `**RSS against memoryLimit, by value size.** Each cache is filled to its limit in a node process of its own (\`bench/lib/fill.ts\`): a filler thread computes distinct values under keys of ${cells[0]?.large.keyLength ?? 0} characters (policy \`reject\`: until one is rejected; \`evict\`: until the cache has turned over once), two owner threads, nearLimit 0; RSS is read after a full collection in every thread, the owners' included, with the cache idle and once full. At memoryLimit ${bytes(small)} and ${bytes(large)}; ${rounds} round(s), medians. *Slope*: the RSS a MiB more of memoryLimit adds, (growth at ${bytes(large)} − growth at ${bytes(small)}) / ${bytes(large - small)}; aim ≤ ${RSS_AIM} (RSS ≤ ${RSS_AIM} × memoryLimit + a fixed cost: the growth at ${bytes(small)} less ${RSS_AIM} times it, the threads' young generations and what the allocator keeps of messages, whatever the cache holds). *Held*: what the owners' heaps and ArrayBuffers grew by (after gc), per entry.`,
    '',
    table(
      ['value', 'policy', `entries at ${bytes(large)}`, 'counted / entry', 'held / entry', `RSS growth at ${bytes(small)}`, `at ${bytes(large)}`, `growth / limit at ${bytes(large)}`, 'slope'],
      cells.map((c) => [
        c.label,
        `\`${c.policy}\``,
        c.large.entries.toLocaleString('en-US'),
        per(c.large.bytes, c.large.entries),
        per(ownersGrowth(c.large), c.large.entries),
        bytes(c.smallGrowth),
        bytes(c.largeGrowth),
        `${(c.largeGrowth / large).toFixed(2)}x`,
        c.slope <= RSS_AIM ? `${c.slope.toFixed(2)}` : `**${c.slope.toFixed(2)}**`,
      ]),
    ),
  ].join('\n')
  const figures: Record<string, number> = { rssSmall: small, rssLarge: large, rssCells: cells.length }
  for (const c of cells) {
    const at = `rss${c.index}${c.policy}`
    figures[`${at}Slope`] = c.slope
    figures[`${at}Growth`] = c.largeGrowth
    figures[`${at}Fixed`] = c.smallGrowth - RSS_AIM * small
  }
  return { markdown, figures }
}

function report(rounds: Record<Policy, Round[]>, memoryLimit: number, rssStart: number, rssEnd: number, options: Options): Section {
  const med = (policy: Policy, field: keyof Omit<Round, 'policy'>) => median(rounds[policy].map((r) => r[field]))
  const over = [...rounds.reject, ...rounds.evict].filter((r) => r.maxBytesSeen > memoryLimit)
  const unaccounted = [...rounds.reject, ...rounds.evict].filter((r) => r.stored + r.rejected !== r.offers)
  const row = (policy: Policy) => [
    `\`${policy}\``,
    `${med(policy, 'offers').toLocaleString('en-US')} (${bytes(med(policy, 'offeredBytes'))})`,
    `${med(policy, 'bytes').toLocaleString('en-US')} B (${((med(policy, 'bytes') / memoryLimit) * 100).toFixed(2)}%)`,
    `${Math.max(...rounds[policy].map((r) => r.maxBytesSeen)).toLocaleString('en-US')} B`,
    med(policy, 'entries').toLocaleString('en-US'),
    med(policy, 'stored').toLocaleString('en-US'),
    med(policy, 'rejected').toLocaleString('en-US'),
    med(policy, 'evicted').toLocaleString('en-US'),
    `${med(policy, 'seconds').toFixed(2)} s`,
    bytes(med(policy, 'rss')),
  ]
  const markdown = [
    `memoryLimit ${bytes(memoryLimit)} (${memoryLimit.toLocaleString('en-US')} B); distinct values of ${VALUE_CHARS.toLocaleString('en-US')} one-byte characters (an entry counts what it takes in memory: the string, its key, and the store's own per entry), offered until 10 × memoryLimit of serialized bytes has been offered, ${IN_FLIGHT} calls in flight, from the main thread; default owner count. A fresh cache each round, ${options.rounds} rounds per policy, medians (the most bytes seen is the maximum over all rounds, from stats() read every ${POLL_EVERY} calls and at the end).`,
    '',
    table(
      ['policy', 'offered', 'stats().bytes at the end', 'most bytes seen', 'entries', 'stored', 'rejected', 'evicted', 'time to offer', 'RSS at the end of the round'],
      [row('reject'), row('evict')],
    ),
    '',
    `Bytes ${over.length === 0 ? '**never passed memoryLimit**' : `**passed memoryLimit in ${over.length} round(s)**`}; every offer counted as stored or rejected: ${unaccounted.length === 0 ? 'yes' : `**no, in ${unaccounted.length} round(s)**`}. Process RSS (all threads): ${bytes(rssStart)} at the start of this scenario, **${bytes(rssEnd)} at the end** (process.memoryUsage().rss).`,
  ].join('\n')
  return {
    title: '6. Stored bytes and RSS against memoryLimit',
    markdown,
    figures: {
      memoryLimit,
      rejectBytes: med('reject', 'bytes'),
      rejectStored: med('reject', 'stored'),
      rejectRejected: med('reject', 'rejected'),
      evictBytes: med('evict', 'bytes'),
      evictStored: med('evict', 'stored'),
      evictEvicted: med('evict', 'evicted'),
      roundsOverLimit: over.length,
      roundsOverLimitReject: rounds.reject.filter((r) => r.maxBytesSeen > memoryLimit).length,
      roundsOverLimitEvict: rounds.evict.filter((r) => r.maxBytesSeen > memoryLimit).length,
      worstOver: Math.max(0, ...over.map((r) => r.maxBytesSeen - memoryLimit)),
      entrySize: med('reject', 'bytes') / med('reject', 'entries'),
      roundsUnaccounted: unaccounted.length,
      rssStart,
      rssEnd,
    },
  }
}

if (isEntry(import.meta.url)) await runAlone(memory)
