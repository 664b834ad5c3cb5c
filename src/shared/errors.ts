import type { WireError } from './protocol.js'

/** The base of the errors coop-cache raises itself; `code` is stable, `key` names the key. */
export class CacheError extends Error {
  /** A stable code: match on it rather than on the message. */
  readonly code: string
  /** The key's canonical encoding, when the error is about one key. */
  readonly key?: string

  constructor(code: string, message: string, options?: { key?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    if (options?.key !== undefined) this.key = options.key
  }

  override get name(): string {
    return this.constructor.name
  }
}

/** The cache was closed: `close()` ran on it, in this thread or (for the whole cache) its creator. */
export class CacheClosedError extends CacheError {
  constructor(message = 'the cache is closed; create a new one with createCache() or attach() a live handle') {
    super('ERR_COOP_CACHE_CLOSED', message)
  }
}

/** A computation ran past `computeTimeout`; a waiting caller computes in its place. */
export class ComputeTimeoutError extends CacheError {
  constructor(key: string, ms: number) {
    super(
      'ERR_COOP_CACHE_COMPUTE_TIMEOUT',
      `the computation for key ${key} ran past computeTimeout (${ms} ms); its waiters were handed to another caller. Raise computeTimeout if the work is legitimately this slow`,
      { key },
    )
  }
}

/**
 * The value `fn` returned cannot reach other callers as it is: it cannot be structured-cloned
 * (a function, a symbol), or a clone would change it silently (an instance of a class loses its
 * prototype). Every caller of that computation gets this error; nothing is stored.
 */
export class ValueNotCloneableError extends CacheError {
  constructor(key: string, cause?: unknown) {
    super(
      'ERR_COOP_CACHE_NOT_CLONEABLE',
      `the value computed for key ${key} cannot be shared with other callers as it is (${describe(cause)}); return plain data: objects, arrays, strings, numbers, typed arrays, Buffers, Maps, Sets, Dates`,
      { key, cause },
    )
  }
}

/** The owner of a key cannot be reached: its thread kept crashing and supervision gave up. */
export class OwnerUnavailableError extends CacheError {
  constructor(key: string, index: number) {
    super(
      'ERR_COOP_CACHE_OWNER_UNAVAILABLE',
      `owner ${index} of this cache, which owns key ${key}, crashed repeatedly and was not restarted; close the cache and create it again`,
      { key },
    )
  }
}

/**
 * With `partition: 'reject'`: this process has not heard its peers within peerTimeout (it is cut
 * off from the bus, or its creating thread was blocked or the process stopped), so it computes
 * nothing under a version the cluster may have left, until it has caught up.
 */
export class CachePartitionedError extends CacheError {
  constructor(key: string, ms: number) {
    super(
      'ERR_COOP_CACHE_PARTITIONED',
      `key ${key} was not served: this process has not heard its peers within peerTimeout (${ms} ms), and the cache has partition: 'reject'. It serves again once it has caught up; use partition: 'compute' to compute uncached meanwhile`,
      { key },
    )
  }
}

/** The reason given to `signal` when a reset makes a computation stale. */
export class CacheResetError extends CacheError {
  constructor(key: string) {
    super('ERR_COOP_CACHE_RESET', `the cache was reset while key ${key} was being computed; this result will not be used`, { key })
  }
}

/**
 * A call stopped waiting: its `signal` aborted (`cause` is the signal's reason). Only that call
 * ends: the computation it waited for goes on for every other caller, and is stored.
 */
export class CallAbortedError extends CacheError {
  constructor(key: string, cause?: unknown, code = 'ERR_COOP_CACHE_ABORTED', message = `the call for key ${key} was aborted by its signal; other callers of that key are still served`) {
    super(code, message, { key, cause })
  }
}

/** A call ran past its own `timeout` option; as with CallAbortedError, only that call ends. */
export class CallTimeoutError extends CallAbortedError {
  constructor(key: string, ms: number) {
    super(key, undefined, 'ERR_COOP_CACHE_CALL_TIMEOUT', `the call for key ${key} waited longer than its timeout (${ms} ms) and stopped waiting; the computation goes on for other callers. Raise the call's timeout if the work is legitimately this slow`)
  }
}

/** `cache.ready()` did not see the peers it asked for within its timeout. */
export class CacheNotReadyError extends CacheError {
  constructor(name: string, want: number, seen: number, ms: number) {
    super(
      'ERR_COOP_CACHE_NOT_READY',
      `cache ${JSON.stringify(name)} saw ${seen} live member${seen === 1 ? '' : 's'} (itself included) within ${ms} ms, not the ${want} asked for; check that the other processes run and share its bus and name (and secret), or wait longer`,
    )
  }
}

/**
 * An invalidation or `set` reached this process and every peer it could, but some live peers did
 * not confirm it within peerTimeout + heartbeat: they may still serve the key's old value. Also
 * when this process was cut off from the bus meanwhile: `peers` then names those it saw live
 * before, and is empty when it saw none.
 */
export class ChangeNotConfirmedError extends CacheError {
  readonly peers: readonly string[]

  constructor(key: string, peers: readonly string[]) {
    super(
      'ERR_COOP_CACHE_NOT_CONFIRMED',
      peers.length === 0
        ? `the change of key ${key} was carried out here, but this process has not heard the bus in time (it is cut off), and peers it cannot see may still serve the old value; call again once it hears the bus, or reset the cache`
        : `the change of key ${key} was carried out here, but peer${peers.length === 1 ? '' : 's'} ${peers.join(', ')} did not confirm it in time and may still serve the old value; call again, or reset the cache`,
      { key },
    )
    this.peers = peers
  }
}

/** A key that has no canonical encoding. It is a TypeError, as DESIGN.md asks. */
export class InvalidKeyError extends TypeError {
  readonly code = 'ERR_COOP_CACHE_INVALID_KEY'
  /** Where in the key the offending part is, such as `key[1].b`. */
  readonly path: string

  constructor(path: string, what: string) {
    super(
      `${path} is ${what}; a key is a string, number, bigint, boolean, null, or an array or plain object of these`,
    )
    this.path = path
  }

  override get name(): string {
    return 'InvalidKeyError'
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause)
}

type CacheErrorClass = new (...args: never[]) => CacheError
const byCode = new Map<string, CacheErrorClass>([
  ['ERR_COOP_CACHE_CLOSED', CacheClosedError],
  ['ERR_COOP_CACHE_COMPUTE_TIMEOUT', ComputeTimeoutError],
  ['ERR_COOP_CACHE_NOT_CLONEABLE', ValueNotCloneableError],
  ['ERR_COOP_CACHE_OWNER_UNAVAILABLE', OwnerUnavailableError],
  ['ERR_COOP_CACHE_RESET', CacheResetError],
  ['ERR_COOP_CACHE_PARTITIONED', CachePartitionedError],
  ['ERR_COOP_CACHE_ABORTED', CallAbortedError],
  ['ERR_COOP_CACHE_CALL_TIMEOUT', CallTimeoutError],
  ['ERR_COOP_CACHE_NOT_READY', CacheNotReadyError],
  ['ERR_COOP_CACHE_NOT_CONFIRMED', ChangeNotConfirmedError],
])

/** An error in the form that crosses a thread and keeps its class and code. */
export function toWire(error: unknown): WireError {
  if (error instanceof CacheError) {
    return error.key === undefined
      ? { coop: error.code, message: error.message }
      : { coop: error.code, message: error.message, key: error.key }
  }
  return { value: error }
}

/** The error a wire form stands for, rebuilt with its class where it is one of ours. */
export function fromWire(wire: WireError): unknown {
  if (wire.coop === undefined) return wire.value
  const Class = byCode.get(wire.coop)
  const error: CacheError = Class === undefined ? new CacheError(wire.coop, wire.message) : Object.create(Class.prototype)
  Object.assign(error, { code: wire.coop, message: wire.message })
  if (wire.key !== undefined) Object.assign(error, { key: wire.key })
  Error.captureStackTrace(error, fromWire)
  return error
}

/** A thrown value that cannot be cloned, turned into one that can, keeping what it said. */
export function cloneableError(error: unknown): unknown {
  try {
    structuredClone(error)
    return error
  } catch {
    const copy = new Error(error instanceof Error ? error.message : String(error))
    if (error instanceof Error) {
      copy.name = error.name
      copy.stack = error.stack
    }
    return copy
  }
}
