import { deserialize, serialize } from 'node:v8'
import { LRUCache } from 'lru-cache'
import type { HandedEntry, Lifetime } from '../shared/protocol.js'
import { footprintOf, stringSize } from '../shared/footprint.js'
import { prefixesOf } from '../shared/key.js'
import { freshness, instantsOf, lifeLeft, type Instants } from '../shared/lifetime.js'
import { monotonic } from '../shared/clock.js'
import type { Budget } from '../shared/memory/budget.js'
import type { Counters } from '../shared/memory/counters.js'
import { Row } from '../shared/memory/layout.js'
import { INLINE_MAX, spansItsBuffer } from '../shared/values.js'
import { SizedMap } from './sized-map.js'


/**
 * What an entry takes beside its key and its value. On the heap, the Entry record and its slots
 * in lru-cache's map and arrays: 160 to 220 bytes (an owner thread holding 2,000 to 200,000
 * entries, heap used after gc, less the keys and values; the map and arrays grow by steps). And
 * about 100 more of old space left unused between entries, among the messages that were promoted
 * with them and died there: owners filled to 32 MiB with 16 B to 1 KiB values grew RSS (after gc
 * in every thread, less what the same calls grew it by with nothing stored) by 280 to 350 bytes
 * per entry beyond its key and value (Node 20, x64; bench/lib/fill.ts). That was with a record
 * of seven slots made by a spread (112 bytes); the record of four slots that took its place
 * takes 56, and the owners' heap used after the same fill fell by as much (200,000 `{ id }`
 * under 45-character keys, bench/lib/fill.ts: 323 to 267 bytes an entry; 100,000 strings of
 * 1,000 characters: 1,223 an entry, 143 beyond key and value), so ENTRY fell by 56, to 264.
 * Under policy 'reject' the store is a plain map (sized-map.ts), without lru-cache's arrays:
 * the owners' heap used after the same fills fell again, by 53 and 47 bytes an entry (267 to
 * 214; 1,223 to 1,176), so ENTRY is 214 and RECENCY, counted under 'evict' alone, 50.
 */
export const ENTRY = 214
/** What an entry takes more under policy 'evict': its slots in lru-cache's arrays of recency and sizes (see ENTRY). */
export const RECENCY = 50
/** An entry's place in the set of each prefix of its array key (see #index). */
export const INDEX_SLOT = 32
/** A set of the prefix index, and its slot in the index, beside the prefix's string (measured as ENTRY was). */
export const INDEX_SET = 184

/**
 * A value as an owner holds it. Small values are kept as themselves: as they came, when their
 * computer sent plain data as itself (values.ts travelsAsItself), else deserialized once when
 * offered. postMessage clones them for each hit faster than the receiver could run
 * v8.deserialize on bytes. Large ones, and ones that hold Buffers (a clone would make them
 * Uint8Arrays; v8.deserialize keeps them Buffers), stay bytes, copied for each hit. Only one
 * form is kept: the bytes of a small value are let go once it is deserialized.
 *
 * `size` is what memoryLimit counts: what the entry takes in memory. That is the value's
 * footprint in the form it is kept in (footprint.ts: an object's on the heap, not its serialized
 * size, which for `{ id }` is a sixth of it; bytes with their ArrayBuffer's bookkeeping), its
 * key's string, and ENTRY for the record and its slots in the store.
 *
 * A record of four slots, since an owner may hold millions: the value or its bytes in one, and
 * what most entries do not have (an expiry, a failed refresh) in an object only those have.
 */
export class Entry implements Instants {
  readonly size: number
  /** the value as it is held: itself, or its bytes (BYTES) */
  readonly #held: unknown
  readonly #bits: number
  readonly #timed: Timed | undefined

  constructor(held: unknown, size: number, bits: number, timed: Timed | undefined) {
    this.size = size
    this.#held = held
    this.#bits = bits
    this.#timed = timed
  }

  /** the value, when it is held as itself */
  get value(): unknown {
    return (this.#bits & BYTES) === 0 ? this.#held : undefined
  }

  /** the value serialized, when it is held so */
  get bytes(): Uint8Array | undefined {
    return (this.#bits & BYTES) === 0 ? undefined : (this.#held as Uint8Array)
  }

  /** it came from another process (see Owner#invalidate's second round) */
  get fetched(): boolean {
    return (this.#bits & FETCHED) !== 0
  }

  get expires(): number {
    return this.#timed?.expires ?? 0
  }

  get staleUntil(): number {
    return this.#timed?.staleUntil ?? 0
  }

  /** a refresh failed: no other is asked for before then (only a value that expires is refreshed) */
  get retryAt(): number {
    return this.#timed?.retryAt ?? 0
  }

  set retryAt(at: number) {
    if (this.#timed !== undefined) this.#timed.retryAt = at
  }
}

/** Entry's bits. */
const BYTES = 1
const FETCHED = 2

interface Timed extends Instants {
  retryAt: number
}

/**
 * The entry for a value's bytes and its key, living `life` from `now` (see lifetime.ts), in a
 * store whose own cost per entry is `overhead` (Store#overhead: ENTRY, and RECENCY under 'evict').
 */
export function entryOf(key: string, bytes: Uint8Array, buffers: boolean, life: Lifetime, now: number, stale = false, fetched = false, overhead = ENTRY): Entry {
  if (buffers || bytes.byteLength > INLINE_MAX) {
    const own = ownBytes(bytes)
    return entry(key, undefined, own, footprintOf(own) + overhead, life, now, stale, fetched)
  }
  const value = deserialize(bytes)
  // A string held in two bytes a character serializes as such and is counted so: no less than its bytes.
  return entry(key, value, undefined, Math.max(footprintOf(value), bytes.byteLength) + overhead, life, now, stale, fetched)
}

/**
 * The bytes in an ArrayBuffer of their own. A value from a peer is read out of the bus's envelope
 * as a view into it (v8.deserialize makes views), and posted here with all of it: kept as it
 * came, 64 values of 1 KiB fetched together kept and counted 5.5 MB, the envelope once each.
 */
const ownBytes = (bytes: Uint8Array): Uint8Array => (spansItsBuffer(bytes) ? bytes : new Uint8Array(bytes))

/**
 * The entry for a small value that came as itself (values.ts travelsAsItself), held as it came.
 * Counted by its footprint alone: with no bytes to go by, a string of one-byte characters that
 * its computer held in two bytes a character is counted at one (as near copies count values).
 */
export function entryOfValue(key: string, value: unknown, life: Lifetime, now: number, overhead = ENTRY): Entry {
  return entry(key, value, undefined, footprintOf(value) + overhead, life, now, false, false)
}

function entry(key: string, value: unknown, bytes: Uint8Array | undefined, held: number, life: Lifetime, now: number, stale: boolean, fetched: boolean): Entry {
  const size = held + stringSize(key) + INDEX_SLOT * prefixesOf(key).length
  const { expires, staleUntil } = life.ttl === 0 && !stale ? NEVER : instantsOf(life, now, stale)
  const timed = expires === 0 ? undefined : { expires, staleUntil, retryAt: 0 }
  return new Entry(bytes ?? value, size, (bytes === undefined ? 0 : BYTES) | (fetched ? FETCHED : 0), timed)
}

const NEVER: Instants = { expires: 0, staleUntil: 0 }

/** The bytes of an entry's value, for another process: serialized here when it is held as itself. */
export function bytesOf(entry: Entry): Uint8Array {
  return entry.bytes ?? serialize(entry.value)
}

/**
 * One owner's stored entries, under their encoded keys. The cap is the whole cache's, shared by
 * every owner: an entry is stored only once its bytes are reserved against memoryLimit in shared
 * memory (budget.ts), so the sum over owners can never pass the limit. Under policy 'evict',
 * lru-cache keeps the recency order and each entry's size; under 'reject', a plain map that
 * sums the sizes (sized-map.ts). Their dispose hook gives bytes back.
 */
export class Store {
  readonly #budget: Budget
  readonly #counters: Counters
  readonly #owner: number
  readonly #limit: number
  readonly #evict: boolean
  #entries: LRUCache<string, Entry> | SizedMap<Entry>
  /** For prefix invalidation: the keys stored under each array-key prefix (key.ts prefixesOf). */
  #under = new Map<string, Set<string>>()
  /**
   * The bytes of #under's sets, counted against memoryLimit beside the entries: a set is
   * reserved by the entry that makes it and given back when its last key goes, whichever entry
   * that is (an entry counts only its place in each set, INDEX_SLOT).
   */
  #indexBytes = 0

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

  #fresh(): LRUCache<string, Entry> | SizedMap<Entry> {
    const counters = this.#counters
    const owner = this.#owner
    const dispose = ({ size }: Entry, key: string, reason: LRUCache.DisposeReason) => {
      // A replaced entry's key stays, and with it its place in the index.
      if (reason !== 'set') this.#unindex(key)
      counters.rowAdd(owner, Row.Bytes, -size)
      counters.rowAdd(owner, Row.Entries, -1)
      if (reason === 'evict') {
        counters.rowAdd(owner, Row.Evicted, 1)
        this.#events?.('evict', key, size)
      }
      this.#budget.release(size)
    }
    // Only 'evict' reads recency: 'reject' keeps a plain map (sized-map.ts).
    return this.#evict ? new LRUCache<string, Entry>({ maxSize: this.#limit, maxEntrySize: this.#limit, dispose }) : new SizedMap(dispose)
  }

  /** What this store takes per entry beside its key and value: ENTRY, and RECENCY under 'evict'. */
  get overhead(): number {
    return this.#evict ? ENTRY + RECENCY : ENTRY
  }

  /** entryOf, for this store. */
  fromBytes(key: string, bytes: Uint8Array, buffers: boolean, life: Lifetime, now: number, stale = false, fetched = false): Entry {
    return entryOf(key, bytes, buffers, life, now, stale, fetched, this.overhead)
  }

  /** entryOfValue, for this store. */
  fromValue(key: string, value: unknown, life: Lifetime, now: number): Entry {
    return entryOfValue(key, value, life, now, this.overhead)
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

  /** The bytes of the sets that indexing `key` would make. */
  #newSets(key: string): number {
    let bytes = 0
    for (const start of prefixesOf(key)) if (!this.#under.has(start)) bytes += INDEX_SET + stringSize(start)
    return bytes
  }

  #index(key: string): void {
    for (const start of prefixesOf(key)) {
      let keys = this.#under.get(start)
      if (keys === undefined) this.#under.set(start, (keys = new Set()))
      keys.add(key)
    }
  }

  #unindex(key: string): void {
    let bytes = 0
    for (const start of prefixesOf(key)) {
      const keys = this.#under.get(start)
      keys?.delete(key)
      if (keys?.size === 0) {
        this.#under.delete(start)
        bytes += INDEX_SET + stringSize(start)
      }
    }
    this.#indexed(-bytes)
    this.#budget.release(bytes)
  }

  /** Counts `bytes` more (or fewer) in the index, in this owner's row. */
  #indexed(bytes: number): void {
    if (bytes === 0) return
    this.#indexBytes += bytes
    this.#counters.rowAdd(this.#owner, Row.Bytes, bytes)
  }

  /** Stores the entry if it fits under the cache's memoryLimit; says whether it did. */
  offer(key: string, entry: Entry): boolean {
    const { size } = entry
    // The sets its key would add to the index are reserved with it (evicting may drop a set it needs).
    for (let sets = this.#newSets(key); !this.#budget.reserve(size + sets, this.#limit); sets = this.#newSets(key)) {
      // With 'reject', or when this owner has nothing left to give back, the entry stays out.
      if (!this.#evict || size + sets > this.#limit || this.#entries.size === 0) {
        this.#counters.rowAdd(this.#owner, Row.Rejected, 1)
        this.#events?.('reject', key, size)
        return false
      }
      ;(this.#entries as LRUCache<string, Entry>).pop()
    }
    // Recorded after the reservation: see budget.ts for why this order.
    this.#counters.rowAdd(this.#owner, Row.Bytes, size)
    this.#counters.rowAdd(this.#owner, Row.Entries, 1)
    this.#counters.rowAdd(this.#owner, Row.Stored, 1)
    this.#indexed(this.#newSets(key))
    // A value replaced is disposed of (reason 'set'), its place in the index kept.
    if (this.#entries instanceof SizedMap) this.#entries.set(key, entry)
    else this.#entries.set(key, entry, { size })
    this.#index(key)
    this.#events?.('store', key, size)
    return true
  }

  /**
   * Every entry of a key `keep` keeps that may still be served, with its value as bytes and what it
   * has left to live, as it is when it is reached: the entries may change between two of them.
   * Each entry passed over yields undefined, so that whoever reads it can stop after so many keys
   * looked at, not only so many kept. After a reset it goes on over the entries of before, which
   * whoever reads it lets go of.
   */
  *handed(keep: (key: string, fetched: boolean) => boolean): Generator<HandedEntry | undefined> {
    for (const [key, entry] of this.#entries.entries()) {
      const now = monotonic()
      yield keep(key, entry.fetched) && freshness(entry, now) !== 'gone' ? { key, value: bytesOf(entry), life: lifeLeft(entry, now) } : undefined
    }
  }

  /**
   * Drops every entry (a reset); their bytes go back to the cache. In time that does not grow
   * with the entries: a fresh store takes the old one's place, which is let go of whole, and its
   * bytes and count are given back in one step each, instead of a dispose per entry.
   */
  clear(): void {
    const bytes = this.#entries.calculatedSize + this.#indexBytes
    const count = this.#entries.size
    this.#entries = this.#fresh()
    this.#under = new Map()
    this.#indexBytes = 0
    this.#counters.rowAdd(this.#owner, Row.Bytes, -bytes)
    this.#counters.rowAdd(this.#owner, Row.Entries, -count)
    this.#budget.release(bytes)
  }
}
