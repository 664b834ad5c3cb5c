// The fill of scenario 8 (bench/peers.ts), in a fresh process each time: this file, forked with
// the role 'peers-fill' (and --expose-gc), fills one cache with N distinct keys, as fast as it
// takes them, and says how fast it went and how much RSS the cache and its entries added. The
// cache is coop-cache through `cached()` (one owner thread, memoryLimit large enough to store
// every entry) or lru-cache through `fetch()` (max N, a fetchMethod), the same N calls with the
// same number in flight. A process of its own per fill, so that no heap or thread of another
// fill is in its RSS.

import { LRUCache } from 'lru-cache'
import { cached, createCache } from 'coop-cache'
import { breathe, pipelined, seconds } from './measure.js'
import { forkedRole, servePeer } from './processes.js'

/** Calls in flight while filling. */
export const FILL_IN_FLIGHT = 1_000
/** characters of a `kb` value: one-byte characters, so about 1 KB */
export const KB_CHARS = 1_000

export type Shape = 'id' | 'kb'

export interface FillCommand {
  readonly cmd: 'fill'
  readonly lib: 'coop' | 'lru'
  readonly shape: Shape
  readonly n: number
}

export interface Filled {
  /** entries per second through cached() / fetch() */
  readonly rate: number
  /** RSS after gc, before the cache was made */
  readonly rssStart: number
  /** RSS the empty cache added (coop-cache: its owner thread) */
  readonly rssEmpty: number
  /** RSS after the fill and a gc, all entries stored */
  readonly rssFull: number
  /** entries the cache holds at the end (all N, or the figures mean nothing) */
  readonly entries: number
}

/**
 * A distinct value for key i: `{ id }`, or a flat string of KB_CHARS one-byte characters (made
 * from a Buffer: a string joined from a head and a slice of a shared one would be a small rope
 * pointing into the shared one, and lru-cache would keep only that).
 */
const valueOf = (shape: Shape, i: number): NonNullable<unknown> => {
  if (shape === 'id') return { id: i }
  const bytes = Buffer.alloc(KB_CHARS, 'x')
  bytes.write(`${i}:`, 'latin1')
  return bytes.toString('latin1')
}

const GiB = 1024 * 1024 * 1024

// Keys are made as each call is made, as an application makes them, so that what a cache keeps
// of them is inside the RSS it adds.
const keyOf = (i: number) => `e:${i}`

async function fill(c: FillCommand): Promise<Filled> {
  await breathe()
  const rssStart = process.memoryUsage().rss
  if (c.lib === 'lru') {
    const lru = new LRUCache<string, NonNullable<unknown>>({ max: c.n, fetchMethod: async (key) => valueOf(c.shape, Number(key.slice(2))) })
    await breathe()
    const rssEmpty = process.memoryUsage().rss - rssStart
    const start = process.hrtime.bigint()
    await pipelined(c.n, FILL_IN_FLIGHT, (i) => lru.fetch(keyOf(i)))
    const rate = c.n / seconds(start)
    await breathe()
    return { rate, rssStart, rssEmpty, rssFull: process.memoryUsage().rss, entries: lru.size }
  }
  const cache = await createCache({ name: `bench-peers-fill-${process.pid}`, threads: 1, memoryLimit: GiB })
  try {
    await breathe()
    const rssEmpty = process.memoryUsage().rss - rssStart
    const start = process.hrtime.bigint()
    await pipelined(c.n, FILL_IN_FLIGHT, (i) => cached(cache, keyOf(i), () => valueOf(c.shape, i)))
    const rate = c.n / seconds(start)
    // The last values may still be on their way to the owner: wait until it has stored them all.
    let stats = await cache.stats()
    for (let tries = 0; stats.stored + stats.rejected < c.n && tries < 500; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      stats = await cache.stats()
    }
    await breathe()
    return { rate, rssStart, rssEmpty, rssFull: process.memoryUsage().rss, entries: stats.entries }
  } finally {
    await cache.close()
  }
}

if (forkedRole()?.role === 'peers-fill') {
  servePeer(async (c: FillCommand | { cmd: 'exit' }) => {
    if (c.cmd === 'exit') {
      setImmediate(() => process.disconnect())
      return true
    }
    return fill(c)
  })
}
