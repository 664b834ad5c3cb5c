// The epoch, the version it names, and that version's stamp. One writer: the thread that created
// the cache (its resets, and its peer agent's). Every other thread only reads; a reset made in
// another thread is a request to the creating thread (host/resets.ts), never a write here.
//
// The epoch is this process's own count of changes, an Int32 every reply and near copy is
// checked against. The version and its stamp are a record of several fields, published without
// a seqlock, so that no reader ever waits on a writer: there are two record slots; the writer
// fills the slot not in use, then bumps `Published`, whose parity names the current slot. A
// reader reads `Published`, copies that slot, and reads `Published` again: if it moved by at most
// one, the writer has not touched the copied slot since (it was writing the other one), and the
// copy is whole; else it reads again. A writer stopped in the middle of a record (a terminated
// thread) leaves the published slot as it was: readers go on reading it.
import { changed } from './changes.js'
import { Int, Memory, PEER_MAX, RECORD_HEAD, VERSION_MAX } from './layout.js'

/**
 * A reset's name across the cluster. Resets are ordered by clock (a Lamport clock), then by
 * birth, then by origin. Clock 1 is a process's initial version, which is nobody's reset: it is
 * stamped with the time the process was created (`born`), and between two of those the older
 * process's comes later, so that a process joining a running cluster takes the cluster's
 * version whatever its own configuration says. Resets (clock 2 on) are born at 0.
 */
export interface Stamp {
  readonly clock: number
  readonly origin: string
  /** for an initial version: when the process that started on it was created (ms); else 0 */
  readonly born: number
}

/** The clock of every process's initial version. */
export const INITIAL_CLOCK = 1
/** The largest clock a peer's reset is taken with: it leaves room for 2^32 resets after it. */
export const CLOCK_MAX = Number.MAX_SAFE_INTEGER - 2 ** 32
/**
 * How far ahead of this process's clock a peer's reset may be: a peer is ahead by the resets
 * this process missed, never by billions; one message cannot push the clock to its end.
 */
export const CLOCK_JUMP = 2 ** 32

/** Negative when reset `a` comes before `b`, 0 when they are the same reset. */
export function compareStamps(a: Stamp, b: Stamp): number {
  if (a.clock !== b.clock) return a.clock - b.clock
  if (a.born !== b.born) return b.born - a.born
  return a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0
}

/** What a reset published: the epoch it made, the version's bytes, and its stamp. */
export interface VersionRecord {
  readonly epoch: number
  readonly bytes: Uint8Array
  readonly stamp: Stamp
}

const utf8 = new TextEncoder()
const text = new TextDecoder()

/** The epoch and version, as any thread reads them. */
export class Epochs {
  protected readonly memory: Memory
  readonly #ints: Int32Array
  #valueEpoch = -1
  #value: unknown

  constructor(memory: Memory) {
    this.memory = memory
    this.#ints = memory.ints
  }

  /** The current epoch: what every reply and stored entry is checked against. */
  epoch(): number {
    return Atomics.load(this.#ints, Int.Epoch)
  }

  /** Resolves when the epoch is no longer `seen` (at once if it already is not), or after `ms`. */
  async change(seen: number, ms?: number): Promise<void> {
    await Atomics.waitAsync(this.#ints, Int.Epoch, seen, ms).value
  }

  closed(): boolean {
    return Atomics.load(this.#ints, Int.Closed) === 1
  }

  /** The published version record. Never waits on a writer (see the top of this file). */
  record(): VersionRecord {
    for (;;) {
      const before = Atomics.load(this.#ints, Int.Published)
      const slot = (before & 1) as 0 | 1
      const view = this.memory.records[slot]
      const bytes = this.memory.recordBytes[slot]
      const epoch = view.getFloat64(0)
      const clock = view.getFloat64(8)
      const born = view.getFloat64(16)
      const originLength = Math.min(view.getUint16(24), PEER_MAX)
      const versionLength = Math.min(view.getUint16(26), VERSION_MAX)
      const origin = bytes.slice(RECORD_HEAD, RECORD_HEAD + originLength)
      const version = bytes.slice(RECORD_HEAD + PEER_MAX, RECORD_HEAD + PEER_MAX + versionLength)
      if (Atomics.load(this.#ints, Int.Published) - before <= 1) return { epoch, bytes: version, stamp: { clock, origin: text.decode(origin), born } }
    }
  }

  /** The clock of the latest reset's stamp: the same on every peer once a reset has spread. */
  clock(): number {
    return this.record().stamp.clock
  }

  /** The version as a value, deserialized once per epoch in each thread. */
  versionValue(deserialize: (bytes: Uint8Array) => unknown): { epoch: number; version: unknown } {
    // An epoch's version never changes: once read in this epoch, no record needs reading again
    // (a record is read by copying it out of shared memory, on every computation otherwise).
    if (this.epoch() === this.#valueEpoch) return { epoch: this.#valueEpoch, version: this.#value }
    const { epoch, bytes } = this.record()
    if (epoch !== this.#valueEpoch) {
      this.#value = deserialize(bytes)
      this.#valueEpoch = epoch
    }
    return { epoch, version: this.#value }
  }
}

/** The one writer of the epoch and version: held by the thread that created the cache. */
export class EpochWriter extends Epochs {
  /** Publishes the first version of fresh memory, at epoch 1. */
  static start(memory: Memory, version: Uint8Array, stamp: Stamp): EpochWriter {
    const writer = new EpochWriter(memory)
    writer.publish(version, stamp, 1)
    return writer
  }

  /**
   * Publishes `version` under `stamp`, naming epoch `epoch`; when that is a new epoch, moves
   * the epoch there afterwards, so that a thread that sees the new epoch finds its version.
   * Throws (having written nothing) when a field cannot be kept. With `wake` false, the owner
   * threads waiting for the epoch to move are left to wake(): they see the new epoch at their
   * next message all the same, and are woken only to drop the old entries at once.
   */
  publish(version: Uint8Array, stamp: Stamp, epoch: number, wake = true): void {
    const origin = utf8.encode(stamp.origin)
    if (origin.length > PEER_MAX) throw new RangeError(`a peer id is at most ${PEER_MAX} bytes`)
    if (version.length > VERSION_MAX) throw new RangeError(`a version is at most ${VERSION_MAX} bytes serialized`)
    if (!Number.isSafeInteger(stamp.clock) || stamp.clock < 0) throw new RangeError(`a reset's clock is a safe integer from 0`)
    if (!Number.isFinite(stamp.born)) throw new RangeError('a stamp is born at a finite time')
    const ints = this.memory.ints
    const next = Atomics.load(ints, Int.Published) + 1
    const slot = (next & 1) as 0 | 1
    const view = this.memory.records[slot]
    const bytes = this.memory.recordBytes[slot]
    view.setFloat64(0, epoch)
    view.setFloat64(8, stamp.clock)
    view.setFloat64(16, stamp.born)
    view.setUint16(24, origin.length)
    view.setUint16(26, version.length)
    bytes.set(origin, RECORD_HEAD)
    bytes.set(version, RECORD_HEAD + PEER_MAX)
    Atomics.store(ints, Int.Published, next)
    if (epoch !== Atomics.load(ints, Int.Epoch)) {
      Atomics.store(ints, Int.Epoch, epoch)
      changed(ints)
      if (wake) this.wake()
    }
  }

  /**
   * Wakes the threads waiting for the epoch to move (change()). A wake-up of another thread's
   * waitAsync took 40-60 µs here, as long as the rest of a reset in this thread.
   */
  wake(): void {
    Atomics.notify(this.memory.ints, Int.Epoch)
  }

  close(): void {
    Atomics.store(this.memory.ints, Int.Closed, 1)
    changed(this.memory.ints)
    Atomics.notify(this.memory.ints, Int.Closed)
  }
}
