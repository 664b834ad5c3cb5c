// The layout of a cache's shared memory: one SharedArrayBuffer that every thread of the process
// reads without a message (a SharedArrayBuffer clones to any number of threads; a MessagePort
// to one). Each part has its own file, which names the one thread that writes it:
//
//   epoch.ts     the epoch, the version and its stamp, the closed flag   the creating thread
//   owners.ts    each owner's state and generation                      the supervisor
//                each owner's flushed epoch                             that owner
//   budget.ts    the bytes reserved against memoryLimit                 the owners, by CAS
//   counters.ts  each owner's row of counters                           that owner
//                add-only counters (hits, computes, dropped...)         any thread, Atomics.add
//                each thread's near-copy bytes                          that thread
//   liveness.ts  until when this process may serve, acked resets, peers the peer agent
//   fences.ts    a generation per key slot, and one for prefixes        owners, and whoever
//                                                                        invalidates, by Atomics.add
//   changes.ts   a count of the changes near copies depend on           whoever changes them,
//                                                                        by Atomics.add
//
// No field is ever written under a lock or in a sequence that others wait on: a thread
// terminated between any two statements leaves every field readable (see epoch.ts for how the
// version is published without a seqlock).
import { monotonic } from '../clock.js'

/** Int32 slots of the head. */
export const enum Int {
  Epoch = 0,
  Closed = 1,
  Published = 2,
  Owners = 3,
  Clustered = 4,
  SelfLength = 5,
  ServeUntil = 6,
  Acked = 7,
  Peers = 8,
  IdLength = 9,
  /** 1 while the creating thread has subscribers to the owners' events (events/forward.ts) */
  Events = 10,
  /** changes a near copy depends on (changes.ts) */
  Changes = 11,
}
const INT_HEAD = 12

/** Int32 slots per owner, after the head. */
export const enum OwnerInt {
  Generation = 0,
  State = 1,
  Flushed = 2,
}
const INTS_PER_OWNER = 3

/** BigInt64 counters added to by any thread. */
export const enum Counter {
  Reserved = 0,
  NearHits = 1,
  LocalHits = 2,
  LocalCoalesced = 3,
  Resets = 4,
  Dropped = 5,
  Computes = 6,
  Failures = 7,
}
const COUNTERS = 8

/** BigInt64 counters in an owner's row, written by that owner only. */
export const enum Row {
  Hits = 0,
  Misses = 1,
  Coalesced = 2,
  Stored = 3,
  Rejected = 4,
  Entries = 5,
  Bytes = 6,
  Evicted = 7,
}
const ROW = 8

/** The most bytes a serialized version may take. */
export const VERSION_MAX = 4096
/** The most bytes of a peer id (UTF-8). */
export const PEER_MAX = 64
/** How many counters a peer reports to the others (see stats.ts). */
export const PEER_COUNTERS = 14
/** The most bytes of a cache's id. */
const ID_MAX = 64
/** How many threads at once may keep near copies: each has a slot for its near bytes. */
export const NEAR_SLOTS = 1024
/** How many key slots carry an invalidation generation (fences.ts); slot 0 is the prefixes'. */
export const FENCE_SLOTS = 4096

// A version record: epoch, clock and birth as float64, the lengths of origin and version, then
// the origin's and the version's bytes. Two of them: see epoch.ts.
export const RECORD_HEAD = 32
export const RECORD_SIZE = RECORD_HEAD + PEER_MAX + VERSION_MAX

/** Where each part lives in the buffer, for `owners` owners. */
function shape(owners: number) {
  const ints = INT_HEAD + owners * INTS_PER_OWNER + NEAR_SLOTS + FENCE_SLOTS
  const bigAt = Math.ceil((ints * 4) / 8) * 8
  const bigs = COUNTERS + owners * ROW + PEER_COUNTERS + NEAR_SLOTS
  const recordsAt = bigAt + bigs * 8
  const selfAt = recordsAt + 2 * RECORD_SIZE
  const idAt = selfAt + PEER_MAX
  return { ints, bigAt, bigs, recordsAt, selfAt, idAt, total: idAt + ID_MAX }
}

const utf8 = new TextEncoder()
const text = new TextDecoder()

/** The raw views of one cache's shared memory, and where each part starts. Every thread makes its own. */
export class Memory {
  readonly buffer: SharedArrayBuffer
  readonly owners: number
  readonly ints: Int32Array
  readonly bigs: BigInt64Array
  readonly records: readonly [DataView, DataView]
  readonly recordBytes: readonly [Uint8Array, Uint8Array]
  /** this process's peer id on the bus; empty without a bus */
  readonly self: string
  /** the id of the cache this memory is: a handle must name it */
  readonly cacheId: string
  readonly clustered: boolean

  /** Lays out fresh memory for cache `cacheId`; the epoch part is filled in by its writer (epoch.ts). */
  static create(owners: number, cacheId: string, self: string, clustered: boolean): Memory {
    const layout = shape(owners)
    const buffer = new SharedArrayBuffer(layout.total)
    const ints = new Int32Array(buffer, 0, INT_HEAD)
    const peer = utf8.encode(self)
    const id = utf8.encode(cacheId)
    if (peer.length > PEER_MAX) throw new RangeError(`a peer id is at most ${PEER_MAX} bytes`)
    if (id.length > ID_MAX) throw new RangeError(`a cache id is at most ${ID_MAX} bytes`)
    new Uint8Array(buffer, layout.selfAt, PEER_MAX).set(peer)
    new Uint8Array(buffer, layout.idAt, ID_MAX).set(id)
    ints[Int.Owners] = owners
    ints[Int.SelfLength] = peer.length
    ints[Int.IdLength] = id.length
    ints[Int.Clustered] = clustered ? 1 : 0
    // With a bus, nothing is served until the peer agent has joined and says until when.
    ints[Int.ServeUntil] = monotonic() | 0
    return new Memory(buffer)
  }

  /** The views of memory made by `create`, received from another thread. Throws if it is not one. */
  constructor(buffer: SharedArrayBuffer) {
    const owners = buffer.byteLength >= INT_HEAD * 4 ? new Int32Array(buffer, 0, INT_HEAD)[Int.Owners] ?? 0 : 0
    const layout = shape(owners)
    if (owners < 1 || buffer.byteLength !== layout.total) throw new TypeError('the shared memory does not have the layout of a coop-cache')
    this.buffer = buffer
    this.owners = owners
    this.ints = new Int32Array(buffer, 0, layout.ints)
    this.bigs = new BigInt64Array(buffer, layout.bigAt, layout.bigs)
    const at = (i: number) => layout.recordsAt + i * RECORD_SIZE
    this.records = [new DataView(buffer, at(0), RECORD_SIZE), new DataView(buffer, at(1), RECORD_SIZE)]
    this.recordBytes = [new Uint8Array(buffer, at(0), RECORD_SIZE), new Uint8Array(buffer, at(1), RECORD_SIZE)]
    this.self = text.decode(new Uint8Array(buffer, layout.selfAt, Math.min(this.ints[Int.SelfLength] ?? 0, PEER_MAX)).slice())
    this.cacheId = text.decode(new Uint8Array(buffer, layout.idAt, Math.min(this.ints[Int.IdLength] ?? 0, ID_MAX)).slice())
    this.clustered = this.ints[Int.Clustered] === 1
  }

  /** The Int32 slot of owner `owner`'s field. */
  ownerSlot(owner: number, field: OwnerInt): number {
    return INT_HEAD + owner * INTS_PER_OWNER + field
  }

  /** The Int32 slot that claims near slot `i`. */
  nearClaimSlot(i: number): number {
    return INT_HEAD + this.owners * INTS_PER_OWNER + i
  }

  /** The Int32 slot of fence `i` (fences.ts). */
  fenceSlot(i: number): number {
    return INT_HEAD + this.owners * INTS_PER_OWNER + NEAR_SLOTS + i
  }

  /** The BigInt64 slot of owner `owner`'s counter. */
  rowSlot(owner: number, field: Row): number {
    return COUNTERS + owner * ROW + field
  }

  /** The BigInt64 slot of the peers' sum of counter `i`. */
  peerSumSlot(i: number): number {
    return COUNTERS + this.owners * ROW + i
  }

  /** The BigInt64 slot of near slot `i`'s bytes. */
  nearBytesSlot(i: number): number {
    return COUNTERS + this.owners * ROW + PEER_COUNTERS + i
  }
}
