import { LRUCache } from 'lru-cache'
import { Row, type SharedState } from './shared.js'

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
  readonly #entries: LRUCache<string, Uint8Array>

  constructor(shared: SharedState, owner: number, limit: number, policy: 'reject' | 'evict') {
    this.#shared = shared
    this.#owner = owner
    this.#limit = limit
    this.#evict = policy === 'evict'
    this.#entries = new LRUCache<string, Uint8Array>({
      maxSize: limit,
      maxEntrySize: limit,
      dispose: (value, key, reason) => {
        const size = sizeOf(key, value)
        shared.release(size)
        shared.rowAdd(owner, Row.Bytes, -size)
        shared.rowAdd(owner, Row.Entries, -1)
        if (reason === 'evict') shared.rowAdd(owner, Row.Evicted, 1)
      },
    })
  }

  get(key: string): Uint8Array | undefined {
    return this.#entries.get(key)
  }

  /** Stores the entry if it fits under the cache's memoryLimit; says whether it did. */
  offer(key: string, value: Uint8Array): boolean {
    const size = sizeOf(key, value)
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
    this.#entries.set(key, value, { size })
    return true
  }

  /** Drops every entry (a reset); their bytes go back to the cache. */
  clear(): void {
    this.#entries.clear()
  }
}

/** An entry's cost against memoryLimit: its serialized value and its key (UTF-8). */
export function sizeOf(key: string, value: Uint8Array): number {
  return value.byteLength + Buffer.byteLength(key)
}
