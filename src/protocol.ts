// Every message that crosses the thread boundary between a caller and an owner.
// Both sides import this file; nothing else defines a message. It imports nothing.
//
// A request is named by its `id`, unique per caller link. Keys travel in their canonical
// encoding (key.ts). A computed value travels to its owner as the bytes of `v8.serialize`, so
// its size is exact; owners answer with small values as themselves and large ones as bytes
// (see ValueMessage).

/** An error as it crosses a thread: a coop-cache error by its code, anything else as itself. */
export type WireError =
  | { readonly coop: string; readonly message: string; readonly key?: string }
  | { readonly coop?: undefined; readonly value: unknown }

/** Caller → owner: give me `key` in the current epoch. */
export interface GetMessage {
  readonly type: 'get'
  readonly id: number
  readonly key: string
}

/** Caller → owner: the computer's value, serialized, for the flight fenced by `token`. */
export interface PutMessage {
  readonly type: 'put'
  readonly key: string
  readonly token: number
  readonly epoch: number
  readonly value: Uint8Array
}

/** Caller → owner: the computation fenced by `token` failed; coalesced callers get `error`. */
export interface FailMessage {
  readonly type: 'fail'
  readonly key: string
  readonly token: number
  readonly epoch: number
  readonly error: WireError
}

/** Caller → owner: forget request `id`; if it was computing, hand the flight to a waiter. */
export interface DropMessage {
  readonly type: 'drop'
  readonly id: number
}

/** Caller → owner: answer `pong` once everything this link sent before is handled. */
export interface PingMessage {
  readonly type: 'ping'
  readonly id: number
}

export type CallerMessage = GetMessage | PutMessage | FailMessage | DropMessage | PingMessage

/**
 * Owner → caller: the value of request `id`, stored or just computed, of epoch `epoch`. A
 * small value travels as itself (postMessage clones it, which costs less than v8.deserialize
 * for small values); a large one as its serialized bytes (a copy, not a re-serialization).
 */
export interface ValueMessage {
  readonly type: 'value'
  readonly id: number
  readonly epoch: number
  /** the value, when `bytes` is absent */
  readonly value?: unknown
  /** the value serialized, for large values */
  readonly bytes?: Uint8Array
  /** the value's serialized size */
  readonly size: number
  /** the owner holds this value; a caller may keep a near copy only of stored values */
  readonly stored: boolean
  /** true when the value came from the store, false when from a computation just finished */
  readonly hit: boolean
}

/** Owner → caller: request `id` is the computer for its key; offer the result under `token`. */
export interface ComputeMessage {
  readonly type: 'compute'
  readonly id: number
  readonly epoch: number
  readonly token: number
}

/**
 * Owner → caller: the computation of request `id` under `token` no longer counts.
 * `reset`: the epoch moved; the owner has queued the request again in the new epoch.
 * `timeout`: it ran past computeTimeout; the request is over and a waiter takes the flight.
 */
export interface AbortMessage {
  readonly type: 'abort'
  readonly id: number
  readonly token: number
  readonly reason: 'reset' | 'timeout'
}

/** Owner → caller: request `id` ends with this error (thrown in `epoch`, if it was thrown). */
export interface ErrorMessage {
  readonly type: 'error'
  readonly id: number
  readonly error: WireError
  readonly epoch?: number
}

/** Owner → caller: the answer to `ping` `id`. */
export interface PongMessage {
  readonly type: 'pong'
  readonly id: number
}

export type OwnerMessage = ValueMessage | ComputeMessage | AbortMessage | ErrorMessage | PongMessage

/** Caller → owner, on the owner's connect channel: open a link with me on channel `pair`. */
export interface ConnectMessage {
  readonly type: 'connect'
  readonly pair: string
}

/** Owner → caller, on the pair channel: the port of the new link. */
export interface WelcomeMessage {
  readonly type: 'welcome'
  readonly port: unknown
}

/** What an owner thread is started with (its `workerData`). */
export interface OwnerData {
  readonly shared: SharedArrayBuffer
  readonly id: string
  readonly index: number
  readonly owners: number
  readonly memoryLimit: number
  readonly computeTimeout: number
  readonly policy: 'reject' | 'evict'
}

/** The control calls the supervisor makes on an owner (through comlink: not the hot path). */
export interface OwnerControl {
  /** Ends every pending request with CacheClosedError and stops accepting links. */
  close(): void
}
