// Every message between peers on the bus, in one typed place, and the one function that
// reads them. A bus is shared and at most once: a message may be lost, late, repeated, from a
// build of another version, or not ours at all; decode() refuses anything that is not exactly
// a message of this cache, and the agent counts what it refuses. Nothing here throws.
//
// Messages travel as v8.serialize of a plain object (values inside as their serialized bytes,
// exactly as they cross threads). A request is named by the requesting process (`f`), its
// owner thread (`o`) and that owner's remote request id (`r`).
import { deserialize, serialize } from 'node:v8'
import type { WireError } from '../protocol.js'
import { CLOCK_MAX, PEER_MAX, VERSION_MAX, type Stamp } from '../shared.js'

interface Base {
  /** the cache's name */
  readonly c: string
  /** the sending peer */
  readonly f: string
}

/** Every heartbeat, to all; and to one peer, in answer to its hello. */
export interface Beat extends Base {
  readonly t: 'beat'
  readonly s: Stamp
  /** the serialized version of stamp `s` */
  readonly v: Uint8Array
  /** the sender's own counters (see stats.ts) */
  readonly n: readonly number[]
}
/** A peer joins, or comes back: everyone answers with a beat. */
export interface Hello extends Base {
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

interface Request extends Base {
  /** the stamp of the reset the sender is on: a request of another one is refused */
  readonly s: Stamp
  readonly o: number
  readonly r: number
}
/** Give me key `k` (sent again every heartbeat until answered: the renewal is the lease). */
export interface Get extends Request {
  readonly t: 'get'
  readonly k: string
}
export interface Value extends Request {
  readonly t: 'value'
  readonly v: Uint8Array
  /** from the owner's store, not a computation */
  readonly h: boolean
}
/** The requester computes, under the owner's token `tk`. */
export interface Compute extends Request {
  readonly t: 'compute'
  readonly tk: number
}
/** The requester's computation under `tk` ran past computeTimeout; it no longer counts. */
export interface Abort extends Request {
  readonly t: 'abort'
  readonly tk: number
}
export interface Failed extends Request {
  readonly t: 'error'
  readonly e: WireError
}
export interface Put extends Request {
  readonly t: 'put'
  readonly k: string
  readonly tk: number
  readonly v: Uint8Array
}
export interface Fail extends Request {
  readonly t: 'fail'
  readonly k: string
  readonly tk: number
  readonly e: WireError
}
export interface Drop extends Request {
  readonly t: 'drop'
}

export type PeerMessage = Beat | Hello | Bye | Reset | Ack | Get | Value | Compute | Abort | Failed | Put | Fail | Drop
/** Messages about one request: they are refused unless their stamp is the receiver's. */
export type RequestMessage = Get | Value | Compute | Abort | Failed | Put | Fail | Drop

/** A message without its `c` and `f`, which the agent fills in. */
export type Outgoing = PeerMessage extends infer M ? (M extends PeerMessage ? Omit<M, 'c' | 'f'> : never) : never

export function encode(message: PeerMessage): Uint8Array {
  return serialize(message)
}

const isString = (x: unknown): x is string => typeof x === 'string'
const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
const isBytes = (x: unknown): x is Uint8Array => x instanceof Uint8Array
// A stamp must fit where it is kept (shared.ts): a clock in an Int32, an origin in PEER_MAX bytes.
const isStamp = (x: unknown): x is Stamp =>
  typeof x === 'object' &&
  x !== null &&
  isCount((x as Stamp).clock) &&
  (x as Stamp).clock <= CLOCK_MAX &&
  isString((x as Stamp).origin) &&
  Buffer.byteLength((x as Stamp).origin) <= PEER_MAX
// A version is taken by every peer: it must be one that every peer can read back.
const isVersion = (x: unknown): x is Uint8Array => {
  if (!isBytes(x) || x.byteLength > VERSION_MAX) return false
  try {
    deserialize(x)
    return true
  } catch {
    return false
  }
}
const isWireError = (x: unknown): x is WireError => typeof x === 'object' && x !== null

/** What each type needs beyond `c`, `f` and `t`. */
const shapes: Record<PeerMessage['t'], Record<string, (x: unknown) => boolean>> = {
  beat: { s: isStamp, v: isVersion, n: (x) => Array.isArray(x) && x.every((n) => typeof n === 'number') },
  hello: {},
  bye: {},
  reset: { s: isStamp, v: isVersion },
  ack: { s: isStamp },
  get: { s: isStamp, o: isCount, r: isCount, k: isString },
  value: { s: isStamp, o: isCount, r: isCount, v: isBytes, h: (x) => typeof x === 'boolean' },
  compute: { s: isStamp, o: isCount, r: isCount, tk: isCount },
  abort: { s: isStamp, o: isCount, r: isCount, tk: isCount },
  error: { s: isStamp, o: isCount, r: isCount, e: isWireError },
  put: { s: isStamp, o: isCount, r: isCount, k: isString, tk: isCount, v: isBytes },
  fail: { s: isStamp, o: isCount, r: isCount, k: isString, tk: isCount, e: isWireError },
  drop: { s: isStamp, o: isCount, r: isCount },
}

/**
 * The message in `bytes`, or why it is refused: it does not parse, is not a message of
 * cache `name`, lacks a field, or carries bytes over `maxBytes`.
 */
export function decode(bytes: Uint8Array, name: string, maxBytes: number): PeerMessage | string {
  let message: unknown
  try {
    message = deserialize(bytes)
  } catch {
    return 'it does not parse'
  }
  if (typeof message !== 'object' || message === null) return 'it is not a message'
  const { c, f, t } = message as { c?: unknown; f?: unknown; t?: unknown }
  if (c !== name) return `it is not for cache ${JSON.stringify(name)}`
  if (!isString(f) || !isString(t) || !Object.hasOwn(shapes, t)) return 'it is not a coop-cache message'
  for (const [field, check] of Object.entries(shapes[t as PeerMessage['t']])) {
    if (!check((message as Record<string, unknown>)[field])) return `its field ${field} is malformed`
  }
  const v = (message as { v?: unknown }).v
  if (isBytes(v) && v.byteLength > maxBytes) return `its value is ${v.byteLength} bytes, more than ${maxBytes}`
  return message as PeerMessage
}
