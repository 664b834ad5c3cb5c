import { deserialize, serialize } from 'node:v8'
import { LRUCache } from 'lru-cache'
import type { HandedEntry, Lifetime } from '../shared/protocol.js'
import { prefixesOf } from '../shared/key.js'
import { instantsOf, type Instants } from '../shared/lifetime.js'
import type { Budget } from '../shared/memory/budget.js'
import type { Counters } from '../shared/memory/counters.js'
import { Row } from '../shared/memory/layout.js'

/** Values up to this many bytes serialized, without Buffers, are kept deserialized: a hit clones them. */
export const INLINE_MAX = 16 * 1024

/**
 * A value as an owner holds it. Small values are kept as themselves, deserialized once when
 * offered: postMessage clones them for each hit faster than the receiver could run
 * v8.deserialize on bytes. Large ones, and ones that hold Buffers (a clone would make them
 * Uint8Arrays; v8.deserialize keeps them Buffers), stay bytes, copied for each hit. Either way
 * `size` is the serialized size plus the key's, which is what memoryLimit counts.
 */
export interface Entry extends Instants {
  readonly value: unknown
  readonly bytes: Uint8Array | undefined
  readonly size: number
  /** a refresh failed: no other is asked for before then */
  retryAt: number
  /** it came from another process (see Owner#invalidate's second round) */
  readonly fetched: boolean
}

/** The entry for a value's bytes and its key, living `life` from `now` (see lifetime.ts). */
export function entryOf(key: string, bytes: Uint8Array, buffers: boolean, life: Lifetime, now: number, stale = false, fetched = false): Entry {
  const size = bytes.byteLength + Buffer.byteLength(key)
  const inline = !buffers && bytes.byteLength <= INLINE_MAX
  return { value: inline ? deserialize(bytes) : undefined, bytes: inline ? undefined : bytes, size, ...instantsOf(life, now, stale), retryAt: 0, fetched }
}

/**
 * One owner's stored entries, under their encoded keys. The cap is the whole cache's, shared by
 * every owner: an entry is stored only once its bytes are reserved against memoryLimit in shared
 * memory (budget.ts), so the sum over owners can never pass the limit. lru-cache keeps the
 * recency order and each entry's size; its dispose hook gives bytes back.
 */
export class Store {
  readonly #budget: Budget
  readonly #counters: Counters
  readonly #owner: number
  readonly #limit: number
  readonly #evict: boolean
  #entries: LRUCache<string, Entry>
  /** For prefix invalidation: the keys stored under each array-key prefix (key.ts prefixesOf). */
  #under = new Map<string, Set<string>>()

  readonly #events: ((kind: 'store' | 'reject' | 'evict', key: string, bytes: number) => void) | undefined

  constructor(budget: Budget, counters: Counters, owner: number, limit: number, policy: 'reject' | 'evict', events?: (kind: 'store' | 'reject' | 'evict', key: string, bytes: number) => void) {
    this.#events = events
    this.#budget = budget
    this.#counters = counters
    this.#owner = owner
    this.#limit = limit
    this.#evict = policy === 'evict'
    this.#entries = this.#fresh()
  }

  #fresh(): LRUCache<string, Entry> {
    const counters = this.#counters
    const owner = this.#owner
    return new LRUCache<string, Entry>({
      maxSize: this.#limit,
      maxEntrySize: this.#limit,
      dispose: ({ size }, key, reason) => {
        this.#unindex(key)
        counters.rowAdd(owner, Row.Bytes, -size)
        counters.rowAdd(owner, Row.Entries, -1)
        if (reason === 'evict') {
          counters.rowAdd(owner, Row.Evicted, 1)
          this.#events?.('evict', key, size)
        }
        this.#budget.release(size)
      },
    })
  }

  get(key: string): Entry | undefined {
    return this.#entries.get(key)
  }

  /** Drops `key`'s entry, if any. */
  delete(key: string): void {
    this.#entries.delete(key)
  }

  /** The stored keys under the array-key prefix `start` (see key.ts prefixStart). */
  keysUnder(start: string): string[] {
    return [...(this.#under.get(start) ?? [])]
  }

  #index(key: string): void {
    for (const start of prefixesOf(key)) {
      let keys = this.#under.get(start)
      if (keys === undefined) this.#under.set(start, (keys = new Set()))
      keys.add(key)
    }
  }

  #unindex(key: string): void {
    for (const start of prefixesOf(key)) {
      const keys = this.#under.get(start)
      keys?.delete(key)
      if (keys?.size === 0) this.#under.delete(start)
    }
  }

  /** Stores the entry if it fits under the cache's memoryLimit; says whether it did. */
  offer(key: string, entry: Entry): boolean {
    const { size } = entry
    while (!this.#budget.reserve(size, this.#limit)) {
      // With 'reject', or when this owner has nothing left to give back, the entry stays out.
      if (!this.#evict || size > this.#limit || this.#entries.size === 0) {
        this.#counters.rowAdd(this.#owner, Row.Rejected, 1)
        this.#events?.('reject', key, size)
        return false
      }
      this.#entries.pop()
    }
    // Recorded after the reservation: see budget.ts for why this order.
    this.#counters.rowAdd(this.#owner, Row.Bytes, size)
    this.#counters.rowAdd(this.#owner, Row.Entries, 1)
    this.#counters.rowAdd(this.#owner, Row.Stored, 1)
    // A value replaced is disposed of (and unindexed) first.
    this.#entries.delete(key)
    this.#entries.set(key, entry, { size })
    this.#index(key)
    this.#events?.('store', key, size)
    return true
  }

  /** Every entry that never expires, with its value as bytes (one with a time to live is left to be computed again). */
  *handed(): Generator<HandedEntry> {
    for (const [key, entry] of this.#entries.entries()) if (entry.expires === 0) yield { key, value: entry.bytes ?? serialize(entry.value) }
  }

  /**
   * Drops every entry (a reset); their bytes go back to the cache. In time that does not grow
   * with the entries: a fresh store takes the old one's place, which is let go of whole, and its
   * bytes and count are given back in one step each, instead of a dispose per entry.
   */
  clear(): void {
    const bytes = this.#entries.calculatedSize
    const count = this.#entries.size
    this.#entries = this.#fresh()
    this.#under = new Map()
    this.#counters.rowAdd(this.#owner, Row.Bytes, -bytes)
    this.#counters.rowAdd(this.#owner, Row.Entries, -count)
    this.#budget.release(bytes)
  }
}
