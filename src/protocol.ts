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

// Between an owner and the peer agent (the thread that created the cache, which holds the
// bus). The agent's port is an ordinary caller link too: it carries the requests of remote
// peers for keys this process owns (relayed gets, puts, fails, drops), answered with the
// owner messages above. The messages below are the other direction: an owner asking a remote
// owner, on behalf of this process's callers, for a key another process owns. A remote
// request is named by `rid`, unique per owner instance; the agent knows which peer it went to.

/** Owner → agent: ask `peer` for `key` in the epoch `epoch` (sent again until answered). */
export interface RemoteGetMessage {
  readonly type: 'rget'
  readonly rid: number
  readonly key: string
  readonly peer: string
  readonly epoch: number
}

/** Owner → agent: the value this process computed for remote request `rid`, under `token`. */
export interface RemotePutMessage {
  readonly type: 'rput'
  readonly rid: number
  readonly key: string
  readonly token: number
  readonly epoch: number
  readonly value: Uint8Array
}

/** Owner → agent: the computation for remote request `rid` failed. */
export interface RemoteFailMessage {
  readonly type: 'rfail'
  readonly rid: number
  readonly key: string
  readonly token: number
  readonly epoch: number
  readonly error: WireError
}

/** Owner → agent: remote request `rid` is no longer wanted. */
export interface RemoteDropMessage {
  readonly type: 'rdrop'
  readonly rid: number
}

export type OwnerToAgent = RemoteGetMessage | RemotePutMessage | RemoteFailMessage | RemoteDropMessage

/** Agent → owner: the live members of the cluster (peer ids, this process's included). */
export interface ViewMessage {
  readonly type: 'view'
  readonly members: readonly string[]
}

/** Agent → owner: the value for remote request `rid`, of epoch `epoch`, as serialized bytes. */
export interface RemoteValueMessage {
  readonly type: 'rvalue'
  readonly rid: number
  readonly epoch: number
  readonly value: Uint8Array
  readonly hit: boolean
}

/** Agent → owner: this process computes for remote request `rid`, under the remote `token`. */
export interface RemoteComputeMessage {
  readonly type: 'rcompute'
  readonly rid: number
  readonly epoch: number
  readonly token: number
}

/** Agent → owner: the remote owner took the computation away (it ran past computeTimeout). */
export interface RemoteAbortMessage {
  readonly type: 'rabort'
  readonly rid: number
  readonly token: number
}

/** Agent → owner: remote request `rid` ends with this error. */
export interface RemoteErrorMessage {
  readonly type: 'rerror'
  readonly rid: number
  readonly epoch: number
  readonly error: WireError
}

export type AgentToOwner = ViewMessage | RemoteValueMessage | RemoteComputeMessage | RemoteAbortMessage | RemoteErrorMessage

/** What an owner thread is started with (its `workerData`). */
export interface OwnerData {
  readonly shared: SharedArrayBuffer
  readonly id: string
  readonly index: number
  readonly owners: number
  readonly memoryLimit: number
  readonly computeTimeout: number
  readonly policy: 'reject' | 'evict'
  /** The port to the peer agent, when the cache has a bus. */
  readonly agent?: unknown
}

/** The control calls the supervisor makes on an owner (through comlink: not the hot path). */
export interface OwnerControl {
  /** Ends every pending request with CacheClosedError and stops accepting links. */
  close(): void
}
