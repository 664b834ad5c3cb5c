// Every message between peers on the bus, in one typed place, and the one function that reads
// them. A bus is shared and at most once: a message may be lost, late, repeated, from a build of
// another version, forged, or not ours at all. Past the envelope (seal.ts), decode() refuses
// anything that is not exactly a message of this cache, every field checked against what the
// protocol and shared memory can hold; the agent counts what it refuses. Nothing here throws.
//
// A message is v8.serialize of a plain object. Every one names its cache (`c`), its sender (`f`,
// a random id per process start: the sender's incarnation), its sequence number among the
// sender's messages (`q`) and the sender's clock when sent (`ts`), both for replay protection
// (replay.ts), and its recipient (`to`, '' for all). A request is named by the asking process
// (`f`, or `to` in an answer), its owner thread (`o`), that thread's incarnation (`i`: a restarted
// owner numbers its requests anew) and the request's number there (`r`); every message about a
// request carries its key (`k`), and one about another key than its request's is refused.
// Values travel as their v8.serialize bytes, read once here: bytes that do not deserialize to
// shareable data are refused before they reach an owner or a caller.
import { deserialize } from 'node:v8'
import type { WireError } from '../shared/protocol.js'
import { CLOCK_MAX, type Stamp } from '../shared/memory/epoch.js'
import { PEER_COUNTERS, PEER_MAX, VERSION_MAX } from '../shared/memory/layout.js'
import { shapeOf } from '../shared/values.js'
import { TIMER_MAX } from '../shared/clock.js'
import { WINDOW } from './replay.js'

interface Base {
  /** the cache's name */
  readonly c: string
  /** the sender's peer id */
  readonly f: string
  /** the sender's sequence number for this message */
  readonly q: number
  /** the sender's Date.now() when it sent this message */
  readonly ts: number
  /** the recipient's peer id, '' for every peer */
  readonly to: string
}

/** The sender's own heartbeat and peer timeout, ms (see members.ts): on every beat and hello. */
interface Timed {
  readonly hb: number
  readonly pto: number
}

/** Every heartbeat, to all; and to one peer, in answer to its hello. */
export interface Beat extends Base, Timed {
  readonly t: 'beat'
  /** the stamp of the reset the sender is on */
  readonly s: Stamp
  /** the serialized version of stamp `s` */
  readonly v: Uint8Array
  /** the sender's own counters (see stats.ts) */
  readonly n: readonly number[]
  /** the sender's host name and process id, for whoever watches the cluster (observe/) */
  readonly host: string
  readonly pid: number
}
/** A peer joins, or comes back: everyone answers with a beat. */
export interface Hello extends Base, Timed {
  readonly t: 'hello'
}
/** A peer leaves the cluster for good. */
export interface Bye extends Base {
  readonly t: 'bye'
}
/** A reset made by `s.origin`, to all. */
export interface Reset extends Base {
  readonly t: 'reset'
  readonly s: Stamp
  readonly v: Uint8Array
}
/** The sender has taken reset `s`. */
export interface Ack extends Base {
  readonly t: 'ack'
  readonly s: Stamp
}

/**
 * A value of reset `s` that the sender held for key `k`, which now belongs to the recipient: the
 * sender is leaving the cluster, or the recipient has joined it. The recipient keeps the value
 * rather than compute it again.
 */
export interface Give extends Base {
  readonly t: 'give'
  readonly s: Stamp
  readonly k: string
  readonly v: Uint8Array
  /** ms it has left until it expires (0: it never does), and of grace after that */
  readonly tl: number
  readonly gr: number
  /** found by decode: the value holds Buffers */
  readonly buffers: boolean
}
/**
 * The sender has sent the recipient a part of the values it gives or copies to it (`m`: more
 * follow), or all of them: answer `taken` once they are handled. The last also says that the
 * sender holds no value of the recipient's keys any more (see Agent#welcome): a process that
 * joined stops asking it for them.
 */
export interface Gave extends Base {
  readonly t: 'gave'
  readonly m: boolean
  /** the part's number, from 1 in each sender: its `taken` answers with it */
  readonly pt: number
}
/** The answer to `gave` `pt`. */
export interface Taken extends Base {
  readonly t: 'taken'
  readonly pt: number
}

interface About extends Base {
  /** the stamp of the reset the sender is on: a message of another one is refused */
  readonly s: Stamp
  /** the asking process's owner thread, its incarnation, and the request's number there */
  readonly o: number
  readonly i: string
  readonly r: number
  /** the request's key */
  readonly k: string
}
/** Give me key `k` (sent again when a renewal finds the owner does not have it; see Renew). */
export interface Get extends About {
  readonly t: 'get'
  /** only a value the owner holds or is computing */
  readonly p: boolean
  /** a background refresh of a stale value (see GetMessage.refresh) */
  readonly rf: boolean
}
/** The asker computed `k` under the owner's token `tk`. */
export interface Put extends About {
  readonly t: 'put'
  readonly tk: number
  readonly v: Uint8Array
  /** fn asked for the value not to be stored */
  readonly ns: boolean
  /** its time to live and grace, ms (0: none) */
  readonly tl: number
  readonly gr: number
  /** found by decode: the value holds Buffers */
  readonly buffers: boolean
}
export interface Fail extends About {
  readonly t: 'fail'
  readonly tk: number
  readonly e: WireError
}
export interface Drop extends About {
  readonly t: 'drop'
}
export interface Value extends About {
  readonly t: 'value'
  readonly v: Uint8Array
  /** from the owner's store, not a computation */
  readonly h: boolean
  /** ms it has left until it expires (0: it never does), and of grace after that */
  readonly tl: number
  readonly gr: number
  /** it has expired, and is served within its grace (`gr` from now) */
  readonly st: boolean
  /** found by decode: the value holds Buffers */
  readonly buffers: boolean
}
/** The asker computes, under the owner's token `tk`. */
export interface Compute extends About {
  readonly t: 'compute'
  readonly tk: number
}
/** The asker's computation under `tk` ran past computeTimeout; it no longer counts. */
export interface Abort extends About {
  readonly t: 'abort'
  readonly tk: number
  /** not a timeout: the key was invalidated or set at the owner, and the asker asks again */
  readonly fe: boolean
}
export interface Failed extends About {
  readonly t: 'error'
  readonly e: WireError
}
/** The answer to a peek: the owner holds nothing for `k`, nor computes it. */
export interface None extends About {
  readonly t: 'none'
}
/** The owner has the request, and it waits in a flight: the answer to a renewal. */
export interface Wait extends About {
  readonly t: 'wait'
}

/**
 * The sender's open requests to the recipient from its owner thread `o` (incarnation `i`),
 * numbered `rs`: renewed all in one message (see asks.ts), by name, without their keys. A get
 * each was a message each way per request every heartbeat, and under a stampede of thousands of
 * cold keys the renewals and their answers were most of the traffic.
 */
export interface Renew extends Base {
  readonly t: 'renew'
  readonly s: Stamp
  readonly o: number
  readonly i: string
  readonly rs: readonly number[]
}
/**
 * The answer to a renew: for each of its requests, in its order, the recipient's state in
 * `tks`: RENEWED_WAITING (it waits in a flight), the token the asker computes under, or
 * RENEWED_UNKNOWN (the recipient has no such request: the asker sends its get again).
 */
export interface Renewed extends Base {
  readonly t: 'renewed'
  readonly s: Stamp
  readonly o: number
  readonly i: string
  readonly rs: readonly number[]
  readonly tks: readonly number[]
}
/** In a renewed's `tks`: the request waits in a flight. */
export const RENEWED_WAITING = 0
/** In a renewed's `tks`: the recipient has no such request. */
export const RENEWED_UNKNOWN = -1
/** The most requests one renew names: its message stays a few KiB. */
export const RENEW_MAX = 1024

/** Drop key `k`'s value (with `p`, every key under the array key `k`): change `ci` of the sender. */
export interface Invalidate extends Base {
  readonly t: 'inv'
  readonly ci: number
  readonly k: string
  readonly p: boolean
  /** the second round of the change (see KeyChange in protocol.ts) */
  readonly a: boolean
}
/** Store this value for `k` under reset `s` (only drop it, under another): change `ci` of the sender. */
export interface SetValue extends Base {
  readonly t: 'set'
  readonly ci: number
  readonly s: Stamp
  readonly k: string
  readonly v: Uint8Array
  readonly tl: number
  readonly gr: number
  /** the second round of the change */
  readonly a: boolean
  /** found by decode: the value holds Buffers */
  readonly buffers: boolean
}
/** The sender has carried out change `ci` of the recipient. */
export interface Applied extends Base {
  readonly t: 'applied'
  readonly ci: number
}

/**
 * A copy of the value the sender, the owner of key `k`, stored under reset `s`, for the
 * recipient to keep (see CacheOptions.replicas): to every peer at once, or to each of the
 * peers that rank next for the key. A copy does not replace a value the recipient has of its
 * own, and is not kept where the key was invalidated or set lately (see Agent#replica).
 */
export interface Replica extends Base {
  readonly t: 'rep'
  readonly s: Stamp
  readonly k: string
  readonly v: Uint8Array
  /** ms it has left until it expires (0: it never does), and of grace after that */
  readonly tl: number
  readonly gr: number
  /** found by decode: the value holds Buffers */
  readonly buffers: boolean
}
/** The sender has just joined (or caught up): each peer sends it copies of the values it owns that it should hold. */
export interface Fill extends Base {
  readonly t: 'fill'
}

/**
 * Chunk `x` of `of` of an envelope too large for the bus (BusMember.maxMessage): its bytes,
 * sealed as they were, cut in order. The recipient puts the `of` chunks of the sender's group
 * `g` together, and opens the envelope they make as if it had come whole.
 */
export interface Chunk extends Base {
  readonly t: 'chunk'
  readonly g: number
  readonly x: number
  readonly of: number
  readonly b: Uint8Array
}

/** The answer to each chunk of group `g`: its recipient holds `got` of its chunks, and lacks chunk `nx` (see chunks.ts Sending). */
export interface Chunked extends Base {
  readonly t: 'chunked'
  readonly g: number
  readonly got: number
  readonly nx: number
}

export type PeerMessage = Beat | Hello | Bye | Reset | Ack | Give | Gave | Taken | Get | Put | Fail | Drop | Value | Compute | Abort | Failed | None | Wait | Invalidate | SetValue | Applied | Replica | Fill | Chunk | Chunked | Renew | Renewed
/** Messages about one request, from the process that asked. */
export type AskMessage = Get | Put | Fail | Drop
/** Messages about one request, from the process asked. */
export type AnswerMessage = Value | Compute | Abort | Failed | None | Wait

type Fields<M> = M extends PeerMessage ? Omit<M, keyof Base | 'buffers'> : never
/** A message as the agent writes it: without what the envelope fills in, and what decode finds. */
export type Outgoing = Fields<PeerMessage>

const isString = (x: unknown): x is string => typeof x === 'string'
const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
const isPositive = (x: unknown): boolean => isCount(x) && x > 0
const isBoolean = (x: unknown): boolean => typeof x === 'boolean'
const isTimer = (x: unknown): boolean => isPositive(x) && (x as number) <= TIMER_MAX
const isPeer = (x: unknown): x is string => isString(x) && x.length > 0 && Buffer.byteLength(x) <= PEER_MAX
const isPlain = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && Object.getPrototypeOf(x) === Object.prototype

// A stamp must fit where it is kept (memory/epoch.ts), with a clock that can still advance.
const isStamp = (x: unknown): boolean =>
  isPlain(x) &&
  Object.keys(x).length === 3 &&
  isCount(x.clock) &&
  (x.clock as number) <= CLOCK_MAX &&
  isString(x.origin) &&
  Buffer.byteLength(x.origin) <= PEER_MAX &&
  isCount(x.born)
// A version is taken by every peer: it must be plain data that every peer can read back.
const isVersion = (x: unknown): boolean => x instanceof Uint8Array && x.byteLength <= VERSION_MAX && readable(x) !== undefined
/** The longest host name a beat carries, in bytes: no system names a host longer. */
export const HOST_MAX = 255
const isHost = (x: unknown): boolean => isString(x) && Buffer.byteLength(x) <= HOST_MAX
const isCounters = (x: unknown): boolean => Array.isArray(x) && x.length === PEER_COUNTERS && x.every(isCount)
const isOwner = (x: unknown): boolean => isCount(x) && (x as number) < 256
const isIncarnation = (x: unknown): boolean => isString(x) && x.length > 0 && x.length <= 64
const isCode = (x: unknown): boolean => isString(x) && /^ERR_COOP_CACHE_[A-Z_]{1,64}$/.test(x)
const isWireError = (x: unknown): boolean =>
  isPlain(x) &&
  (x.coop === undefined
    ? Object.keys(x).length === 1 && 'value' in x
    : isCode(x.coop) && isString(x.message) && x.message.length <= 10_000 && (x.key === undefined || isString(x.key)))

/** The shape of a value's bytes: undefined when they do not deserialize to data that can be shared. */
function readable(bytes: Uint8Array): { buffers: boolean } | undefined {
  try {
    return shapeOf(deserialize(bytes))
  } catch {
    return undefined
  }
}

const about = { s: isStamp, o: isOwner, i: isIncarnation, r: isPositive, k: isString }
const isRequests = (x: unknown): boolean => Array.isArray(x) && x.length > 0 && x.length <= RENEW_MAX && x.every(isPositive)
const isStates = (x: unknown): boolean => Array.isArray(x) && x.length > 0 && x.length <= RENEW_MAX && x.every((tk) => Number.isSafeInteger(tk) && tk >= RENEWED_UNKNOWN)
/** What each type has beyond the base, each field with its check. Value bytes are checked apart. */
const shapes: Record<PeerMessage['t'], Record<string, (x: unknown) => boolean>> = {
  beat: { s: isStamp, v: isVersion, n: isCounters, host: isHost, pid: isPositive, hb: isTimer, pto: isTimer },
  hello: { hb: isTimer, pto: isTimer },
  bye: {},
  reset: { s: isStamp, v: isVersion },
  ack: { s: isStamp },
  give: { s: isStamp, k: isString, v: () => true, tl: isCount, gr: isCount },
  gave: { m: isBoolean, pt: isPositive },
  taken: { pt: isPositive },
  get: { ...about, p: isBoolean, rf: isBoolean },
  put: { ...about, tk: isPositive, v: () => true, ns: isBoolean, tl: isCount, gr: isCount },
  fail: { ...about, tk: isPositive, e: isWireError },
  drop: { ...about },
  value: { ...about, v: () => true, h: isBoolean, tl: isCount, gr: isCount, st: isBoolean },
  compute: { ...about, tk: isPositive },
  abort: { ...about, tk: isPositive, fe: isBoolean },
  error: { ...about, e: isWireError },
  none: { ...about },
  wait: { ...about },
  inv: { ci: isPositive, k: isString, p: isBoolean, a: isBoolean },
  set: { ci: isPositive, s: isStamp, k: isString, v: () => true, tl: isCount, gr: isCount, a: isBoolean },
  applied: { ci: isPositive },
  rep: { s: isStamp, k: isString, v: () => true, tl: isCount, gr: isCount },
  fill: {},
  chunk: { g: isPositive, x: isCount, of: (x) => isCount(x) && (x as number) >= 2 && (x as number) <= CHUNKS_MAX, b: (x) => x instanceof Uint8Array && x.byteLength > 0 },
  chunked: { g: isPositive, got: (x) => isPositive(x) && (x as number) <= CHUNKS_MAX, nx: (x) => isCount(x) && (x as number) <= CHUNKS_MAX },
  renew: { s: isStamp, o: isOwner, i: isIncarnation, rs: isRequests },
  renewed: { s: isStamp, o: isOwner, i: isIncarnation, rs: isRequests, tks: isStates },
}
const base = ['c', 'f', 'q', 'ts', 'to', 't']

/** Where decode stands: the cache's name, this process's id, and the largest value it takes. */
export interface Reader {
  readonly name: string
  readonly self: string
  readonly memoryLimit: number
}

/**
 * The most chunks an envelope is cut in (see Chunk): 2 GiB in chunks of NATS's default 1 MiB.
 * Well within replay.ts's window: the envelope's own messages, numbered before its chunks, are
 * heard after them. What a receiver puts together is bounded by its memoryLimit too.
 */
export const CHUNKS_MAX = WINDOW / 2

/** The most messages one envelope carries (see Agent#flush). */
export const BATCH_MAX = 256

/**
 * The messages in `bytes` (a sealed envelope's payload: one message, or an array of up to
 * BATCH_MAX, each whole, that its sender gathered over one turn of its event loop), or why the
 * payload is refused. A message of a batch that is refused is left out and counted as one
 * refusal; the others are taken.
 */
export function decodeAll(bytes: Uint8Array, reader: Reader): { readonly messages: PeerMessage[]; readonly refused: string[] } | string {
  const payload = parse(bytes)
  if (typeof payload === 'string') return payload
  if (!Array.isArray(payload)) {
    const message = check(payload.message, reader)
    return typeof message === 'string' ? message : { messages: [message], refused: [] }
  }
  if (payload.length < 2 || payload.length > BATCH_MAX) return `it is a batch of ${payload.length} messages, not 2 to ${BATCH_MAX}`
  const messages: PeerMessage[] = []
  const refused: string[] = []
  for (const item of payload) {
    const message = check(item, reader)
    if (typeof message === 'string') refused.push(message)
    else messages.push(message)
  }
  return { messages, refused }
}

/**
 * The message in `bytes` (a sealed envelope's payload), or why it is refused: it does not parse,
 * is not for this cache or this process, has a field missing, extra or out of range, or carries
 * a value that is too large or cannot be read.
 */
export function decode(bytes: Uint8Array, reader: Reader): PeerMessage | string {
  const payload = parse(bytes)
  if (typeof payload === 'string') return payload
  return Array.isArray(payload) ? 'it is a batch' : check(payload.message, reader)
}

function parse(bytes: Uint8Array): { readonly message: unknown } | unknown[] | string {
  try {
    const payload: unknown = deserialize(bytes)
    return Array.isArray(payload) ? payload : { message: payload }
  } catch {
    return 'it does not parse'
  }
}

function check(message: unknown, reader: Reader): PeerMessage | string {
  if (!isPlain(message)) return 'it is not a message'
  const { c, f, q, ts, to, t } = message
  if (c !== reader.name) return `it is not for cache ${JSON.stringify(reader.name)}`
  if (!isString(t) || !Object.hasOwn(shapes, t)) return 'it is not a coop-cache message'
  if (!isPeer(f) || !isCount(q) || !isCount(ts) || !isString(to)) return 'its envelope fields are malformed'
  if (to !== '' && to !== reader.self) return 'it is for another peer'
  const shape = shapes[t as PeerMessage['t']]
  for (const field of Object.keys(message)) {
    if (!base.includes(field) && !Object.hasOwn(shape, field)) return `it has a field ${JSON.stringify(field).slice(0, 40)} that a ${t} has not`
  }
  for (const [field, check] of Object.entries(shape)) {
    if (!check(message[field])) return `its field ${field} is malformed`
  }
  if (t === 'renewed' && (message.rs as unknown[]).length !== (message.tks as unknown[]).length) return 'its fields rs and tks differ in length'
  if (isString(message.k) && Buffer.byteLength(message.k) > reader.memoryLimit) return `its key is longer than memoryLimit (${reader.memoryLimit} bytes)`
  if (t === 'put' || t === 'value' || t === 'give' || t === 'set' || t === 'rep') {
    const v = message.v
    if (!(v instanceof Uint8Array)) return 'its field v is malformed'
    if (v.byteLength > reader.memoryLimit) return `its value is ${v.byteLength} bytes, more than ${reader.memoryLimit}`
    const shape = readable(v)
    if (shape === undefined) return 'its value cannot be read'
    // Set on the object just read, not copied: on Node 20 a spread with a field added cost
    // microseconds a message.
    message.buffers = shape.buffers
    return message as unknown as PeerMessage
  }
  return message as unknown as PeerMessage
}
