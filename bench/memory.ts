// Scenario 6: stored bytes against memoryLimit. Ten times memoryLimit of distinct values is
// offered through cached() (every call a miss, so every value is computed and offered to its
// owner); then stats().bytes is set against memoryLimit, with the stored / rejected (and, with
// policy 'evict', evicted) counts, and the process's RSS. While offering, stats() is read
// every few hundred calls, to catch bytes passing the limit even for a moment.
//
// Alone: `npm run build && node dist/bench/memory.js`

import { serialize } from 'node:v8'
import { cached, createCache } from 'coop-cache'
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
  return report(rounds, memoryLimit, rssStart, rssEnd, options)
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
    `memoryLimit ${bytes(memoryLimit)} (${memoryLimit.toLocaleString('en-US')} B); distinct values of ${VALUE_CHARS.toLocaleString('en-US')} one-byte characters (an entry costs its v8-serialized size plus its key), offered until 10 × memoryLimit has been offered, ${IN_FLIGHT} calls in flight, from the main thread; default owner count. A fresh cache each round, ${options.rounds} rounds per policy, medians (the most bytes seen is the maximum over all rounds, from stats() read every ${POLL_EVERY} calls and at the end).`,
    '',
    table(
      ['policy', 'offered', 'stats().bytes at the end', 'most bytes seen', 'entries', 'stored', 'rejected', 'evicted', 'time to offer', 'RSS at the end of the round'],
      [row('reject'), row('evict')],
    ),
    '',
    `Bytes ${over.length === 0 ? '**never passed memoryLimit**' : `**passed memoryLimit in ${over.length} round(s)**`}; every offer counted as stored or rejected: ${unaccounted.length === 0 ? 'yes' : `**no, in ${unaccounted.length} round(s)**`}. Process RSS (all threads): ${bytes(rssStart)} at the start of this scenario, **${bytes(rssEnd)} at the end** (process.memoryUsage().rss).`,
  ].join('\n')
  return {
    title: '6. Stored bytes against memoryLimit',
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
      entrySize: serialize(valueOf(0, 0)).byteLength + 'm:0:0'.length,
      roundsUnaccounted: unaccounted.length,
      rssStart,
      rssEnd,
    },
  }
}

if (isEntry(import.meta.url)) await runAlone(memory)
