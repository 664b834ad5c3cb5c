import { LRUCache } from 'lru-cache'
import { Shared, type SharedState } from './shared.js'

interface Copy {
  /** The value, already resolved: every hit returns this one promise, allocating nothing. */
  readonly promise: Promise<unknown>
  readonly size: number
}

/**
 * A thread's copies of values it received. Values of one epoch never change, so a copy may
 * serve later hits without a message, as long as the epoch has not moved since it was made:
 * the first look after a reset finds a new epoch and drops every copy. Bounded by nearLimit
 * bytes (the serialized size), least recently used first out; not counted in memoryLimit.
 */
export class Near {
  readonly #shared: SharedState
  readonly #copies: LRUCache<string, Copy> | undefined
  #epoch = 0
  // Hits are counted here and added to the shared counter once per turn of the event loop:
  // an Atomics.add per hit on a counter every thread shares makes threads that hit at the
  // same time contend for one cache line.
  #hits = 0

  constructor(shared: SharedState, limit: number) {
    this.#shared = shared
    this.#copies =
      limit > 0
        ? new LRUCache<string, Copy>({
            maxSize: limit,
            maxEntrySize: limit,
            sizeCalculation: (copy) => copy.size,
            dispose: (copy) => shared.add(Shared.NearBytes, -copy.size),
          })
        : undefined
  }

  /** The copy of `key`'s value, if this thread has one of the current epoch. */
  get(key: string): Copy | undefined {
    const copies = this.#copies
    if (copies === undefined) return undefined
    const epoch = this.#shared.epoch()
    if (epoch !== this.#epoch) return this.#follow(copies, epoch)
    const copy = copies.get(key)
    if (copy !== undefined && this.#hits++ === 0) setImmediate(() => this.countHits()).unref()
    return copy
  }

  /** The epoch moved: every copy is of an older one. */
  #follow(copies: LRUCache<string, Copy>, epoch: number): undefined {
    copies.clear()
    this.#epoch = epoch
    return undefined
  }

  /** Adds the hits counted so far to the shared counter. */
  countHits(): void {
    if (this.#hits === 0) return
    this.#shared.add(Shared.NearHits, this.#hits)
    this.#hits = 0
  }

  /** Keeps a copy of a value the owner stored in `epoch` (ignored if the epoch has moved). */
  keep(key: string, value: unknown, size: number, epoch: number): void {
    const copies = this.#copies
    if (copies === undefined || epoch !== this.#shared.epoch()) return
    if (epoch !== this.#epoch) this.#follow(copies, epoch)
    if (copies.set(key, { promise: Promise.resolve(value), size }).has(key)) this.#shared.add(Shared.NearBytes, size)
  }

  clear(): void {
    this.countHits()
    this.#copies?.clear()
  }
}
