// The cache's shared memory: what every thread of the process can read without a message.
// It is part of the protocol between callers and owners, like protocol.ts, and the only part
// that can reach every thread at once (a SharedArrayBuffer clones to any number of threads;
// a MessagePort to one).
//
//   Int32 slots   epoch, closed flag, reset lock, version seqlock, the reset's stamp, the
//                 peer state (degraded, settled epoch, live peers), and per owner: its
//                 generation (bumped each time an instance starts), its state, the epoch it
//                 has flushed to
//   BigInt slots  bytes reserved against memoryLimit, thread-side counters, one row of
//                 counters per owner (each row written by its owner only), and the sum of the
//                 live peers' counters (written by the peer agent)
//   bytes         the serialized version of the current epoch (VERSION_MAX at most), the
//                 peer id that stamped it, and this process's peer id
//
// The epoch is this process's own count of changes; the stamp (a Lamport clock and the peer
// that made the reset) is what names a reset across the cluster. A reset in any thread stamps
// itself, under the same lock, so the peer agent only has to announce it.

import { serialize } from 'node:v8'

const EPOCH = 0
const CLOSED = 1
const LOCK = 2
const SEQ = 3
const VERSION_LEN = 4
const VERSION_EPOCH = 5
const OWNERS = 6
const CLOCK = 7
const ORIGIN_LEN = 8
const SELF_LEN = 9
const DEGRADED = 10
const SETTLED = 11
const PEERS = 12
const INT_HEAD = 13
// per owner, after the head: generation, state, flushed epoch
const GEN = 0
const STATE = 1
const FLUSHED = 2
const INTS_PER_OWNER = 3

/** Counters written by any thread (with Atomics.add). */
export const enum Shared {
  Reserved = 0,
  NearHits = 1,
  NearBytes = 2,
  LocalCoalesced = 3,
  Resets = 4,
  LocalHits = 5,
  Dropped = 6,
}
const SHARED_SLOTS = 7

/** Counters in an owner's row, written by that owner only. */
export const enum Row {
  Hits = 0,
  Misses = 1,
  Computes = 2,
  Coalesced = 3,
  Stored = 4,
  Rejected = 5,
  Failures = 6,
  Entries = 7,
  Bytes = 8,
  Evicted = 9,
}
const ROW = 10

export const enum OwnerState {
  Starting = 0,
  Running = 1,
  GaveUp = 2,
}

/** The most bytes a serialized version may take. */
export const VERSION_MAX = 4096
/** The most bytes of a peer id (UTF-8). */
export const PEER_MAX = 64
/** The largest clock a reset can have: it lives in an Int32. */
export const CLOCK_MAX = 0x7fffffff
/** How many counters a peer reports (see stats.ts). */
export const PEER_COUNTERS = 16

/** A reset's name across the cluster: ordered by clock, then by the peer that made it. */
export interface Stamp {
  readonly clock: number
  readonly origin: string
}

/** Negative when `a` is older than `b`, 0 when they are the same reset. */
export function compareStamps(a: Stamp, b: Stamp): number {
  return a.clock - b.clock || (a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0)
}

/**
 * Whether reset (`stamp`, `version`) comes after (`than`, `thanVersion`). Two processes that
 * started with different versions both stand on the initial stamp: the greater version's
 * bytes settle it, so they still end on one version.
 */
export function later(stamp: Stamp, version: Uint8Array, than: Stamp, thanVersion: Uint8Array): boolean {
  const order = compareStamps(stamp, than)
  return order > 0 || (order === 0 && Buffer.compare(version, thanVersion) > 0)
}

function layout(owners: number) {
  const ints = INT_HEAD + owners * INTS_PER_OWNER
  const bigAt = Math.ceil((ints * 4) / 8) * 8
  const bigs = SHARED_SLOTS + owners * ROW + PEER_COUNTERS
  const bytesAt = bigAt + bigs * 8
  return { ints, bigAt, bigs, bytesAt, total: bytesAt + VERSION_MAX + 2 * PEER_MAX }
}

const utf8 = new TextEncoder()
const text = new TextDecoder()

/** A view of one cache's shared memory. Cheap to make; every thread makes its own. */
export class SharedState {
  readonly buffer: SharedArrayBuffer
  readonly owners: number
  readonly #ints: Int32Array
  readonly #bigs: BigInt64Array
  readonly #bytes: Uint8Array
  readonly #origin: Uint8Array
  readonly #peerSums: number
  readonly self: string
  #versionEpoch = -1
  #version: unknown

  /**
   * Lays out fresh shared memory for `owners` owners, at epoch 1 with `version`, stamped by
   * `self` (this process's peer id; empty without a bus).
   */
  static create(owners: number, version: Uint8Array, self: string): SharedState {
    const shape = layout(owners)
    const buffer = new SharedArrayBuffer(shape.total)
    const ints = new Int32Array(buffer, 0, INT_HEAD)
    ints[OWNERS] = owners
    ints[EPOCH] = 1
    const id = utf8.encode(self)
    if (id.length > PEER_MAX) throw new RangeError(`a peer id is at most ${PEER_MAX} bytes`)
    new Uint8Array(buffer, shape.bytesAt + VERSION_MAX + PEER_MAX, PEER_MAX).set(id)
    ints[SELF_LEN] = id.length
    const state = new SharedState(buffer, owners)
    // The initial version is nobody's reset: a peer joining late never overrides the cluster's.
    state.#writeVersion(version, 1, { clock: 1, origin: '' })
    return state
  }

  constructor(buffer: SharedArrayBuffer, owners = new Int32Array(buffer, 0, INT_HEAD)[OWNERS] as number) {
    const shape = layout(owners)
    if (buffer.byteLength !== shape.total) throw new TypeError('the shared memory does not have the layout of a coop-cache')
    this.buffer = buffer
    this.owners = owners
    this.#ints = new Int32Array(buffer, 0, shape.ints)
    this.#bigs = new BigInt64Array(buffer, shape.bigAt, shape.bigs)
    this.#bytes = new Uint8Array(buffer, shape.bytesAt, VERSION_MAX)
    this.#origin = new Uint8Array(buffer, shape.bytesAt + VERSION_MAX, PEER_MAX)
    this.#peerSums = SHARED_SLOTS + owners * ROW
    this.self = text.decode(new Uint8Array(buffer, shape.bytesAt + VERSION_MAX + PEER_MAX, this.#ints[SELF_LEN]))
  }

  /** The current epoch: what every reply and stored entry is checked against. */
  epoch(): number {
    return Atomics.load(this.#ints, EPOCH)
  }

  /** Resolves when the epoch is no longer `seen` (at once if it already is not). */
  async epochChange(seen: number): Promise<void> {
    await Atomics.waitAsync(this.#ints, EPOCH, seen).value
  }

  closed(): boolean {
    return Atomics.load(this.#ints, CLOSED) === 1
  }

  close(): void {
    Atomics.store(this.#ints, CLOSED, 1)
    Atomics.notify(this.#ints, CLOSED)
    // wake whoever waits on an owner, so they see the flag
    for (let i = 0; i < this.owners; i++) Atomics.notify(this.#ints, this.#slot(i, GEN))
  }

  /** The version of the latest reset, the epoch it names, and its stamp. */
  version(): { epoch: number; bytes: Uint8Array; stamp: Stamp } {
    for (;;) {
      const before = Atomics.load(this.#ints, SEQ)
      if (before % 2 === 1) continue
      const epoch = Atomics.load(this.#ints, VERSION_EPOCH)
      const bytes = this.#bytes.slice(0, Atomics.load(this.#ints, VERSION_LEN))
      const clock = Atomics.load(this.#ints, CLOCK)
      const origin = text.decode(this.#origin.slice(0, Atomics.load(this.#ints, ORIGIN_LEN)))
      if (Atomics.load(this.#ints, SEQ) === before) return { epoch, bytes, stamp: { clock, origin } }
    }
  }

  /** The clock of the latest reset's stamp: the same on every peer once a reset has spread. */
  clock(): number {
    return Atomics.load(this.#ints, CLOCK)
  }

  /** The version as a value, deserialized once per epoch per thread. */
  versionValue(deserialize: (bytes: Uint8Array) => unknown): { epoch: number; version: unknown } {
    const { epoch, bytes } = this.version()
    if (epoch !== this.#versionEpoch) {
      this.#version = deserialize(bytes)
      this.#versionEpoch = epoch
    }
    return { epoch, version: this.#version }
  }

  /**
   * Moves the cache to a new epoch named by `version`, unless it already has that version.
   * Resolves with the epoch the cache is then on. Serialized between threads by a lock.
   */
  async reset(version: Uint8Array): Promise<number> {
    return this.#locked((current) => {
      if (Buffer.compare(current.bytes, version) === 0) return this.epoch()
      return this.#move(version, { clock: current.stamp.clock + 1, origin: this.self })
    })
  }

  /**
   * Takes a peer's reset, unless this process already has it or a later one. A reset to the
   * version the cache already has only takes its stamp: nothing is flushed. Resolves with
   * the epoch the cache is then on.
   */
  async adopt(version: Uint8Array, stamp: Stamp): Promise<number> {
    return this.#locked((current) => {
      if (!later(stamp, version, current.stamp, current.bytes)) return this.epoch()
      if (Buffer.compare(current.bytes, version) !== 0) return this.#move(version, stamp)
      this.#writeVersion(version, current.epoch, stamp)
      return this.epoch()
    })
  }

  /** A new epoch with the same version: everything stored so far is dropped (see degraded). */
  async advance(): Promise<number> {
    return this.#locked((current) => this.#move(current.bytes, current.stamp, false))
  }

  async #locked(change: (current: ReturnType<SharedState['version']>) => number): Promise<number> {
    while (Atomics.compareExchange(this.#ints, LOCK, 0, 1) !== 0) {
      await Atomics.waitAsync(this.#ints, LOCK, 1, 50).value
    }
    try {
      return change(this.version())
    } finally {
      Atomics.store(this.#ints, LOCK, 0)
      Atomics.notify(this.#ints, LOCK, 1)
    }
  }

  // No await in here: the new version, its stamp and the new epoch appear together.
  #move(version: Uint8Array, stamp: Stamp, counted = true): number {
    const next = this.epoch() + 1
    this.#writeVersion(version, next, stamp)
    Atomics.store(this.#ints, EPOCH, next)
    Atomics.notify(this.#ints, EPOCH)
    if (counted) Atomics.add(this.#bigs, Shared.Resets, 1n)
    return next
  }

  #writeVersion(version: Uint8Array, epoch: number, stamp: Stamp): void {
    // Checked before the seqlock opens: a throw inside it would leave readers spinning.
    const origin = utf8.encode(stamp.origin)
    if (origin.length > PEER_MAX) throw new RangeError(`a peer id is at most ${PEER_MAX} bytes`)
    if (version.length > VERSION_MAX) throw new RangeError(`a version is at most ${VERSION_MAX} bytes serialized`)
    if (!Number.isInteger(stamp.clock) || stamp.clock < 0 || stamp.clock > CLOCK_MAX) throw new RangeError(`a reset's clock is at most ${CLOCK_MAX}`)
    Atomics.add(this.#ints, SEQ, 1)
    this.#bytes.set(version)
    this.#origin.set(origin)
    Atomics.store(this.#ints, VERSION_LEN, version.length)
    Atomics.store(this.#ints, VERSION_EPOCH, epoch)
    Atomics.store(this.#ints, CLOCK, stamp.clock)
    Atomics.store(this.#ints, ORIGIN_LEN, origin.length)
    Atomics.add(this.#ints, SEQ, 1)
  }

  /**
   * Cut off from the bus for longer than the peer timeout: stored values may be stale, so
   * owners serve none and store none until the peer agent has caught up.
   */
  degraded(): boolean {
    return Atomics.load(this.#ints, DEGRADED) === 1
  }

  setDegraded(on: boolean): void {
    Atomics.store(this.#ints, DEGRADED, on ? 1 : 0)
  }

  /** The peer agent records that every live peer has taken the resets up to `epoch`. */
  settled(epoch: number): void {
    for (;;) {
      const at = Atomics.load(this.#ints, SETTLED)
      if (at >= epoch || Atomics.compareExchange(this.#ints, SETTLED, at, epoch) === at) break
    }
    Atomics.notify(this.#ints, SETTLED)
  }

  /** Resolves when the peers have taken the resets up to `epoch`, or the cache closed. */
  async allSettled(epoch: number): Promise<void> {
    for (;;) {
      const at = Atomics.load(this.#ints, SETTLED)
      if (at >= epoch || this.closed()) return
      await Atomics.waitAsync(this.#ints, SETTLED, at, 100).value
    }
  }

  /** How many other live peers this process knows, and the sum of their counters. */
  setPeers(count: number, sums: readonly number[]): void {
    for (let i = 0; i < PEER_COUNTERS; i++) Atomics.store(this.#bigs, this.#peerSums + i, BigInt(sums[i] ?? 0))
    Atomics.store(this.#ints, PEERS, count)
  }

  peers(): { count: number; sums: number[] } {
    const sums = Array.from({ length: PEER_COUNTERS }, (_, i) => Number(Atomics.load(this.#bigs, this.#peerSums + i)))
    return { count: Atomics.load(this.#ints, PEERS), sums }
  }

  #slot(owner: number, field: number): number {
    return INT_HEAD + owner * INTS_PER_OWNER + field
  }

  generation(owner: number): number {
    return Atomics.load(this.#ints, this.#slot(owner, GEN))
  }

  ownerState(owner: number): OwnerState {
    return Atomics.load(this.#ints, this.#slot(owner, STATE)) as OwnerState
  }

  /** An owner instance announces that it listens: callers waiting to reconnect wake up. */
  ownerStarted(owner: number): void {
    Atomics.store(this.#ints, this.#slot(owner, STATE), OwnerState.Running)
    Atomics.add(this.#ints, this.#slot(owner, GEN), 1)
    Atomics.notify(this.#ints, this.#slot(owner, GEN))
  }

  ownerStopped(owner: number, state: OwnerState.Starting | OwnerState.GaveUp): void {
    Atomics.store(this.#ints, this.#slot(owner, STATE), state)
    Atomics.notify(this.#ints, this.#slot(owner, GEN))
    Atomics.notify(this.#ints, this.#slot(owner, FLUSHED))
  }

  /** Resolves when owner's generation is no longer `seen`, or after `ms`. */
  async generationChange(owner: number, seen: number, ms: number): Promise<void> {
    await Atomics.waitAsync(this.#ints, this.#slot(owner, GEN), seen, ms).value
  }

  /** An owner records that it has flushed everything older than `epoch`. */
  flushed(owner: number, epoch: number): void {
    Atomics.store(this.#ints, this.#slot(owner, FLUSHED), epoch)
    Atomics.notify(this.#ints, this.#slot(owner, FLUSHED))
  }

  /** Resolves when every running owner has flushed to `epoch`, or the cache closed. */
  async allFlushed(epoch: number): Promise<void> {
    for (let i = 0; i < this.owners; i++) {
      const slot = this.#slot(i, FLUSHED)
      for (;;) {
        const at = Atomics.load(this.#ints, slot)
        if (at >= epoch || this.closed() || this.ownerState(i) === OwnerState.GaveUp) break
        await Atomics.waitAsync(this.#ints, slot, at, 100).value
      }
    }
  }

  add(slot: Shared, n: number): void {
    Atomics.add(this.#bigs, slot, BigInt(n))
  }

  read(slot: Shared): number {
    return Number(Atomics.load(this.#bigs, slot))
  }

  /** Reserves `n` bytes against `limit`; false when they do not fit. */
  reserve(n: number, limit: number): boolean {
    const want = BigInt(n)
    const cap = BigInt(limit)
    for (;;) {
      const have = Atomics.load(this.#bigs, Shared.Reserved)
      if (have + want > cap) return false
      if (Atomics.compareExchange(this.#bigs, Shared.Reserved, have, have + want) === have) return true
    }
  }

  release(n: number): void {
    if (n !== 0) Atomics.sub(this.#bigs, Shared.Reserved, BigInt(n))
  }

  rowAdd(owner: number, field: Row, n: number): void {
    Atomics.add(this.#bigs, SHARED_SLOTS + owner * ROW + field, BigInt(n))
  }

  rowRead(owner: number, field: Row): number {
    return Number(Atomics.load(this.#bigs, SHARED_SLOTS + owner * ROW + field))
  }

  /** A dead owner's entries are gone: give back what it held. Called by the supervisor. */
  forgetOwnerEntries(owner: number): void {
    const bytes = this.rowRead(owner, Row.Bytes)
    this.rowAdd(owner, Row.Bytes, -bytes)
    this.rowAdd(owner, Row.Entries, -this.rowRead(owner, Row.Entries))
    this.release(bytes)
  }
}

/**
 * Awaits `work` while holding the thread's event loop open. Atomics.waitAsync does not hold
 * it, and owners' threads are unref'd, so without this a process whose only pending work is
 * a wait on shared memory (createCache, reset) would exit in the middle of it.
 */
export async function holdingOpen<T>(work: Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 1 << 30)
  try {
    return await work
  } finally {
    clearInterval(hold)
  }
}

/** The bytes of a version, refused with a clear error when it cannot be shared. */
export function serializeVersion(version: unknown, where: string): Uint8Array {
  let bytes: Uint8Array
  try {
    bytes = serialize(version)
  } catch (cause) {
    throw new TypeError(`${where} must be a cloneable value (a number, a string, a plain object...): ${(cause as Error).message}`)
  }
  if (bytes.length > VERSION_MAX) {
    throw new RangeError(`${where} is ${bytes.length} bytes serialized, more than ${VERSION_MAX}; name the version with something short, such as a hash`)
  }
  return bytes
}
