import { deserialize } from 'node:v8'
import { LRUCache } from 'lru-cache'
import { Row, type SharedState } from './shared.js'

/** Values up to this many bytes serialized are kept deserialized: a hit clones them. */
export const INLINE_MAX = 16 * 1024

/**
 * A value as an owner holds it. Small values are kept as themselves, deserialized once when
 * offered: postMessage clones them for each hit faster than the receiver could run
 * v8.deserialize on bytes. Large ones stay bytes, copied for each hit rather than serialized
 * again. Either way `size` is the serialized size, which is what memoryLimit counts.
 */
export interface Entry {
  readonly value: unknown
  readonly bytes: Uint8Array | undefined
  readonly size: number
}

/** The entry for a computer's serialized value and its key. */
export function entryOf(key: string, bytes: Uint8Array): Entry {
  const size = bytes.byteLength + Buffer.byteLength(key)
  return bytes.byteLength <= INLINE_MAX ? { value: deserialize(bytes), bytes: undefined, size } : { value: undefined, bytes, size }
}

/**
 * One owner's stored entries: serialized values under their encoded keys. The cap is the
 * whole cache's, shared by every owner: an entry is stored only once its bytes are reserved
 * against memoryLimit in shared memory, so the sum over owners can never pass the limit.
 * lru-cache keeps the recency order and each entry's size; its dispose hook gives bytes back.
 */
export class Store {
  readonly #shared: SharedState
  readonly #owner: number
  readonly #limit: number
  readonly #evict: boolean
  readonly #entries: LRUCache<string, Entry>

  constructor(shared: SharedState, owner: number, limit: number, policy: 'reject' | 'evict') {
    this.#shared = shared
    this.#owner = owner
    this.#limit = limit
    this.#evict = policy === 'evict'
    this.#entries = new LRUCache<string, Entry>({
      maxSize: limit,
      maxEntrySize: limit,
      dispose: ({ size }, _key, reason) => {
        shared.rowAdd(owner, Row.Bytes, -size)
        shared.rowAdd(owner, Row.Entries, -1)
        if (reason === 'evict') shared.rowAdd(owner, Row.Evicted, 1)
        shared.release(size)
      },
    })
  }

  get(key: string): Entry | undefined {
    return this.#entries.get(key)
  }

  /** Stores the entry if it fits under the cache's memoryLimit; says whether it did. */
  offer(key: string, entry: Entry): boolean {
    const { size } = entry
    while (!this.#shared.reserve(size, this.#limit)) {
      // With 'reject', or when this owner has nothing left to give back, the entry stays out.
      if (!this.#evict || size > this.#limit || this.#entries.size === 0) {
        this.#shared.rowAdd(this.#owner, Row.Rejected, 1)
        return false
      }
      this.#entries.pop()
    }
    this.#shared.rowAdd(this.#owner, Row.Bytes, size)
    this.#shared.rowAdd(this.#owner, Row.Entries, 1)
    this.#shared.rowAdd(this.#owner, Row.Stored, 1)
    this.#entries.set(key, entry, { size })
    return true
  }

  /** Drops every entry (a reset); their bytes go back to the cache. */
  clear(): void {
    this.#entries.clear()
  }
}

