import { randomInt } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { footprintOf, stringSize } from '../shared/footprint.js'
import { monotonic } from '../shared/clock.js'
import type { Fence } from '../shared/memory/fences.js'
import { Counter } from '../shared/memory/layout.js'
import type { Shared } from '../shared/memory/shared.js'

/** Hits on copies with an expiry served under one reading of the clock, at most (see #now). */
const CLOCK_HITS = 256

/** A thread that had no room for a copy it was offered takes offers again once its copies take no more than this share of nearLimit. */
const ROOM_AGAIN = 0.75

/**
 * What a copy takes beside its key and its value: on the heap, the Copy record, its resolved
 * promise, its fence, and its slots in lru-cache's map and arrays, 230 to 270 bytes (a thread
 * holding 20,000 to 80,000 copies, heap used after gc less the keys and values); and, as for an
 * owner's entries (store.ts ENTRY), about 100 more of old space left unused between copies
 * (Node 20, x64).
 */
const COPY = 370

/** What a copy of `value` under the encoded key `key` counts against nearLimit. */
export function copySize(key: string, value: unknown): number {
  return COPY + stringSize(key) + footprintOf(value)
}

interface Copy {
  /** The value, already resolved: every hit returns this one promise, allocating nothing. */
  readonly promise: Promise<unknown>
  readonly size: number
  /** when it expires (monotonic() ms), 0 for never */
  readonly expires: number
  /** the key's fence when the owner sent it: an invalidation or set of the key since moves it */
  readonly fence: Fence
  /**
   * The count of changes (changes.ts) when this copy was last found of the current epoch, the
   * cache open and its fence holding: while the count is still there, none of them has moved.
   * NaN, equal to no count, until the first hit checks them.
   */
  checkedAt: number
}

/**
 * A thread's copies of values it received. Values of one epoch never change, so a copy may serve
 * later hits without a message, as long as the epoch has not moved since it was made (the first
 * look after a reset finds a new epoch and drops every copy) and, with a bus, as long as this
 * process may serve (liveness.ts: the check is made here, at every hit, as the owners make it).
 * Bounded by nearLimit bytes, least recently used first out; not counted in memoryLimit. A copy
 * counts what it takes in memory: its value as this thread holds it (footprint.ts: an object's
 * heap, Buffers with the bytes they are views into), its key, and COPY. A copy is not served past its expiry, nor once its key's fence has moved (an
 * invalidation or `set` of the key, fences.ts). The thread's near bytes are kept in a slot of shared memory of its own, which
 * the owners give back if the thread dies without closing (see counters.ts).
 */
export class Near {
  readonly #shared: Shared
  readonly #copies: LRUCache<string, Copy> | undefined
  readonly #clustered: boolean
  readonly #token = randomInt(1, 2 ** 31 - 1)
  #slot = -1
  #bytes = 0
  #epoch = 0
  // Hits are counted here and added to the shared counter once the current event's callbacks
  // and microtasks are done: an Atomics.add per hit on a counter every thread shares makes
  // threads that hit at the same time contend for one cache line. The count is queued with
  // process.nextTick, not setImmediate: with setImmediate inlined into the hit, every forced
  // collection (gc()) threw the optimized hit away (V8 deoptimizes it for "weak objects"), and
  // the hits after one ran unoptimized until it was compiled again: scenario 1's hit with a gc()
  // before each round, as the bench makes one, ran at 0.90x of lru-cache `await fetch()` with
  // setImmediate and at 1.41x with nextTick (0.65x and 0.87x with a bus; Node 22: 0.89x, 1.44x).
  #hits = 0
  readonly #countHitsLater = (): void => this.countHits()
  // A clock read at every hit on a copy with an expiry costs as much as the rest of the hit: it
  // is read again once a millisecond has passed (a timer says so) or after CLOCK_HITS hits,
  // whichever comes first, so that a loop that never lets timers run still sees time pass.
  #clock = 0
  #clockHits = 0
  #clockTimer = false
  // Whether this thread takes copies it did not ask for (offer): not once one found no room,
  // until its copies have shrunk to ROOM_AGAIN of nearLimit (a reset empties them), so that
  // owners do not send, and this thread does not read, copies it has no room for.
  #offers = true

  constructor(shared: Shared, limit: number) {
    this.#shared = shared
    this.#clustered = shared.memory.clustered
    this.#copies =
      limit > 0
        ? new LRUCache<string, Copy>({
            maxSize: limit,
            maxEntrySize: limit,
            sizeCalculation: (copy) => copy.size,
            dispose: (copy) => this.#account(-copy.size),
          })
        : undefined
  }

  /** The slot and token the owners are told of, and whether the thread takes offered copies (see HelloMessage); slot -1 while it holds none. */
  get slot(): { readonly slot: number; readonly token: number; readonly offers: boolean } {
    return { slot: this.#slot, token: this.#token, offers: this.#offers }
  }

  /**
   * The copy of `key`'s value, if this thread has one of the current epoch that may be served
   * now, the cache open. When nothing a copy depends on has changed since its last hit (one load
   * of the count of changes), that is all there is to check but its expiry and, with a bus,
   * whether this process may serve.
   */
  get(key: string): Copy | undefined {
    const copies = this.#copies
    if (copies === undefined) return undefined
    if (this.#clustered && !this.#shared.liveness.serving()) return undefined
    const copy = copies.get(key)
    if (copy === undefined) return undefined
    const changes = this.#shared.changes.count()
    if (changes !== copy.checkedAt && !this.#check(copies, key, copy, changes)) return undefined
    if (copy.expires !== 0 && copy.expires <= this.#now()) {
      copies.delete(key)
      return undefined
    }
    if (this.#hits++ === 0) process.nextTick(this.#countHitsLater)
    return copy
  }

  /**
   * Whether `copy` is of the current epoch, the cache open, its fence holding, read after the
   * count `changes`: then it is checked at that count. (A change counted after that read moves
   * the count; one made before it is seen here.)
   */
  #check(copies: LRUCache<string, Copy>, key: string, copy: Copy, changes: number): boolean {
    const { epochs, fences } = this.#shared
    const epoch = epochs.epoch()
    if (epoch !== this.#epoch) {
      this.#follow(copies, epoch)
      return false
    }
    if (epochs.closed()) return false
    if (!fences.holds(copy.fence)) {
      copies.delete(key)
      return false
    }
    copy.checkedAt = changes
    return true
  }

  #now(): number {
    if (this.#clock !== 0 && ++this.#clockHits < CLOCK_HITS) return this.#clock
    this.#clock = monotonic()
    this.#clockHits = 0
    if (!this.#clockTimer) {
      this.#clockTimer = true
      setTimeout(() => {
        this.#clock = 0
        this.#clockTimer = false
      }, 1).unref()
    }
    return this.#clock
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
    this.#shared.counters.add(Counter.NearHits, this.#hits)
    this.#hits = 0
  }

  /** Keeps a copy of a value the owner stored in `epoch` (ignored if the epoch has moved). */
  keep(key: string, value: unknown, epoch: number, expires: number, fence: Fence): void {
    this.#keep(key, value, epoch, expires, fence, false)
  }

  /**
   * Keeps a copy this thread did not ask for (CopyMessage) only in room to spare under
   * nearLimit: a value nobody here has asked for yet must not push out one that was asked for.
   * Not once the key's fence has moved, nor over a copy of the key this thread holds whose
   * fence still holds.
   */
  offer(key: string, value: unknown, epoch: number, expires: number, fence: Fence): void {
    this.#keep(key, value, epoch, expires, fence, true)
  }

  /** Whether an offered copy under `fence` is worth keeping: its fence holds, and the thread has no copy of the key whose fence does. */
  #wanted(copies: LRUCache<string, Copy>, key: string, fence: Fence): boolean {
    const { fences } = this.#shared
    if (!fences.holds(fence)) return false
    const held = copies.peek(key)
    return held === undefined || !fences.holds(held.fence)
  }

  #keep(key: string, value: unknown, epoch: number, expires: number, fence: Fence, spare: boolean): void {
    const copies = this.#copies
    if (copies === undefined || epoch !== this.#shared.epochs.epoch()) return
    if (epoch !== this.#epoch) this.#follow(copies, epoch)
    if (spare && !this.#wanted(copies, key, fence)) return
    const size = copySize(key, value)
    if (spare && copies.calculatedSize + size > copies.maxSize) {
      if (this.#offers) this.#takeOffers(false)
      return
    }
    if (this.#slot < 0) {
      this.#slot = this.#shared.counters.claimNearSlot(this.#token)
      // Every slot taken: keep nothing, rather than count bytes nobody could give back.
      if (this.#slot < 0) return
      this.onHello?.()
    }
    if (copies.set(key, { promise: Promise.resolve(value), size, expires, fence, checkedAt: NaN }).has(key)) this.#account(size)
  }

  /** Called when what the owners are told in a hello changes (the thread holds a near slot; it takes offered copies or no longer does): they must be told. */
  onHello: (() => void) | undefined

  #takeOffers(offers: boolean): void {
    this.#offers = offers
    if (this.#slot >= 0) this.onHello?.()
  }

  #account(delta: number): void {
    this.#bytes += delta
    if (this.#slot >= 0) this.#shared.counters.setNearBytes(this.#slot, this.#bytes)
    if (delta < 0 && !this.#offers && this.#bytes <= ROOM_AGAIN * this.#copies!.maxSize) this.#takeOffers(true)
  }

  /** Drops every copy and gives the slot back: the thread is done with the cache. */
  clear(): void {
    this.countHits()
    // Done with the cache: nothing to tell the owners as the copies go.
    this.#offers = true
    this.#copies?.clear()
    if (this.#slot < 0) return
    this.#shared.counters.setNearBytes(this.#slot, 0)
    this.#shared.counters.releaseNearSlot(this.#slot, this.#token)
    this.#slot = -1
  }
}
