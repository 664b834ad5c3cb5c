import { deserialize, serialize } from 'node:v8'
import { LRUCache } from 'lru-cache'
import type { HandedEntry } from '../shared/protocol.js'
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
export interface Entry {
  readonly value: unknown
  readonly bytes: Uint8Array | undefined
  readonly size: number
}

/** The entry for a value's bytes and its key. */
export function entryOf(key: string, bytes: Uint8Array, buffers: boolean): Entry {
  const size = bytes.byteLength + Buffer.byteLength(key)
  return !buffers && bytes.byteLength <= INLINE_MAX ? { value: deserialize(bytes), bytes: undefined, size } : { value: undefined, bytes, size }
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
  readonly #entries: LRUCache<string, Entry>

  constructor(budget: Budget, counters: Counters, owner: number, limit: number, policy: 'reject' | 'evict') {
    this.#budget = budget
    this.#counters = counters
    this.#owner = owner
    this.#limit = limit
    this.#evict = policy === 'evict'
    this.#entries = new LRUCache<string, Entry>({
      maxSize: limit,
      maxEntrySize: limit,
      dispose: ({ size }, _key, reason) => {
        counters.rowAdd(owner, Row.Bytes, -size)
        counters.rowAdd(owner, Row.Entries, -1)
        if (reason === 'evict') counters.rowAdd(owner, Row.Evicted, 1)
        budget.release(size)
      },
    })
  }

  get(key: string): Entry | undefined {
    return this.#entries.get(key)
  }

  /** Stores the entry if it fits under the cache's memoryLimit; says whether it did. */
  offer(key: string, entry: Entry): boolean {
    const { size } = entry
    while (!this.#budget.reserve(size, this.#limit)) {
      // With 'reject', or when this owner has nothing left to give back, the entry stays out.
      if (!this.#evict || size > this.#limit || this.#entries.size === 0) {
        this.#counters.rowAdd(this.#owner, Row.Rejected, 1)
        return false
      }
      this.#entries.pop()
    }
    // Recorded after the reservation: see budget.ts for why this order.
    this.#counters.rowAdd(this.#owner, Row.Bytes, size)
    this.#counters.rowAdd(this.#owner, Row.Entries, 1)
    this.#counters.rowAdd(this.#owner, Row.Stored, 1)
    this.#entries.set(key, entry, { size })
    return true
  }

  /** Every entry, with its value as bytes. */
  *handed(): Generator<HandedEntry> {
    for (const [key, entry] of this.#entries.entries()) yield { key, value: entry.bytes ?? serialize(entry.value) }
  }

  /** Drops every entry (a reset); their bytes go back to the cache. */
  clear(): void {
    this.#entries.clear()
  }
}
