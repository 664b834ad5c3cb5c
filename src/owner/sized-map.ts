// The store's table under policy 'reject': a Map that keeps the sum of its values' sizes and
// says when a value leaves, with the part of lru-cache's interface the store uses. Nothing is
// ever evicted under 'reject', so recency is never read: lru-cache's order (four arrays beside
// its map, about 50 bytes an entry of an owner that holds a million) would be kept for nothing.

/** Why a value left: replaced by another under its key, or deleted. */
export type Gone = 'set' | 'delete'

export class SizedMap<V extends { readonly size: number }> {
  readonly #map = new Map<string, V>()
  readonly #dispose: (value: V, key: string, reason: Gone) => void
  #size = 0

  constructor(dispose: (value: V, key: string, reason: Gone) => void) {
    this.#dispose = dispose
  }

  get size(): number {
    return this.#map.size
  }

  /** The sum of the sizes of the values held. */
  get calculatedSize(): number {
    return this.#size
  }

  get(key: string): V | undefined {
    return this.#map.get(key)
  }

  set(key: string, value: V): void {
    const old = this.#map.get(key)
    this.#map.set(key, value)
    this.#size += value.size
    if (old === undefined) return
    this.#size -= old.size
    this.#dispose(old, key, 'set')
  }

  delete(key: string): boolean {
    const old = this.#map.get(key)
    if (old === undefined) return false
    this.#map.delete(key)
    this.#size -= old.size
    this.#dispose(old, key, 'delete')
    return true
  }

  entries(): IterableIterator<[string, V]> {
    return this.#map.entries()
  }
}
