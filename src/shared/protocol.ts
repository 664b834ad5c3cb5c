// Every message that crosses a thread boundary inside one process: between a caller thread and
// an owner, and between an owner and the peer agent. Both sides import this file; nothing else
// defines such a message. It imports only types. (Messages between processes are in peer/wire.ts.)
//
// A request is named by its link (a MessagePort, one per caller thread and owner instance: a
// restarted owner is reached on a new port) and an id unique on that link, and every message
// about it carries its key: a message whose key is not its request's is dropped and counted.
// The peer agent is one more requester on a link of its own, asking on behalf of other processes.
// A computed value travels to its owner as itself when it is small plain data, else as the bytes
// of `v8.serialize` (see PutMessage); owners answer with small values as themselves and large
// ones, or ones that hold Buffers, as bytes (see ValueMessage).

import type { Fence } from './memory/fences.js'

/** An error as it crosses a thread: a coop-cache error by its code, anything else as itself. */
export type WireError =
  | { readonly coop: string; readonly message: string; readonly key?: string }
  | { readonly coop?: undefined; readonly value: unknown }

/** Requester → owner: give me `key` in the current epoch. */
export interface GetMessage {
  readonly type: 'get'
  readonly id: number
  readonly key: string
  /**
   * Only a stored value, or one being computed: never compute (a process that just joined asks
   * the key's previous owner so, before it computes the key itself). Answered with `none` else.
   */
  readonly peek?: boolean
  /** Only a stored value that has not expired, answered at once; `none` else (`peek()`). */
  readonly look?: boolean
  /**
   * A background refresh after a stale value was served: the stored value, if expired, is not
   * served (it is recomputed, or the refresh under way is joined). Not counted as a call.
   */
  readonly refresh?: boolean
}

/** How long a computed or set value lives: ms until it expires (0: never), then ms of grace. */
export interface Lifetime {
  readonly ttl: number
  readonly grace: number
}

/**
 * Requester → owner: request `id` computed this value under `token`: small plain data as itself
 * (values.ts travelsAsItself), anything else as the bytes of v8.serialize. Fields left out say
 * what is most common: no Buffers, stored, lives until the next reset.
 */
export interface PutMessage {
  readonly type: 'put'
  readonly id: number
  readonly key: string
  readonly token: number
  readonly epoch: number
  /** the value, when `bytes` is absent */
  readonly value?: unknown
  /** the value serialized */
  readonly bytes?: Uint8Array
  /** the value holds Buffers: it is answered as bytes, which deserialize to Buffers again */
  readonly buffers?: boolean
  /** false: `fn` asked for the value not to be stored (ComputeContext.noStore) */
  readonly store?: boolean
  /** @default FOREVER (lifetime.ts) */
  readonly life?: Lifetime
}

/** Requester → owner: the computation of request `id` under `token` failed. */
export interface FailMessage {
  readonly type: 'fail'
  readonly id: number
  readonly key: string
  readonly token: number
  readonly epoch: number
  readonly error: WireError
}

/** Requester → owner: forget request `id`; if it was computing, the flight passes on. */
export interface DropMessage {
  readonly type: 'drop'
  readonly id: number
  readonly key: string
}

/** Requester → owner: answer `pong` once everything this link sent before is handled. */
export interface PingMessage {
  readonly type: 'ping'
  readonly id: number
}

/**
 * Caller → owner, first on every link: the thread's near slot and its claim token, which the
 * owner gives back if the link closes without the thread having done so (the thread died).
 */
export interface HelloMessage {
  readonly type: 'hello'
  readonly nearSlot: number
  readonly nearToken: number
  /** whether the thread takes copies of values from other processes (CopyMessage): it has room for them */
  readonly offers: boolean
}

/**
 * Agent → owner: a value of the current epoch that another process held for a key that now
 * belongs to this process (it left, or this one joined): stored unless the key already has a
 * value or a flight here, or its fence has moved since `fence`. It travels as a copy does
 * (ReplicaMessage, and Agent#outsideRequests).
 */
export interface GiveMessage extends Omit<ReplicaMessage, 'type'> {
  readonly type: 'give'
}

export type RequesterMessage = GetMessage | PutMessage | FailMessage | DropMessage | PingMessage | HelloMessage | GiveMessage

/**
 * Owner → requester: the value of request `id`, of epoch `epoch`. A small value travels as
 * itself (postMessage clones it, which costs less than v8.deserialize for small values); a
 * large one, or one that holds Buffers, as its serialized bytes. Every hit is one of these, so
 * it carries no field it can do without: what the answer is, in the bits of `how`
 * (answer-bits.ts), and its instants only when it has them.
 */
export interface ValueMessage {
  readonly type: 'value'
  readonly id: number
  readonly key: string
  readonly epoch: number
  /** the value, when `bytes` is absent */
  readonly value?: unknown
  /** the value serialized */
  readonly bytes?: Uint8Array
  /**
   * Bits (answer-bits.ts): STORED, the owner holds this value (a caller keeps near copies only
   * of stored values); HIT, it came from the store, not from a computation just finished;
   * REMOTE, from another process; STALE, it has expired and is served within its grace;
   * REFRESH, stale and nobody refreshes it: the caller should, in the background.
   */
  readonly how: number
  /** when it expires (monotonic() ms, shared/clock.ts); absent for never: a near copy is not served past it */
  readonly expires?: number
  /** until when it may be served stale (absent: not at all): for another process, told what it has left */
  readonly staleUntil?: number
  /** the key's fence when the value was sent: a value fenced off since is not delivered */
  readonly fence: Fence
}

/** Owner → requester: request `id` computes its key; it offers the result under `token`. */
export interface ComputeMessage {
  readonly type: 'compute'
  readonly id: number
  readonly key: string
  readonly epoch: number
  readonly token: number
  /** the key's fence when the computation was given: once it has moved, the result is not handed even to this thread's own callers */
  readonly fence: Fence
}

/**
 * Owner → requester: the computation of request `id` under `token` no longer counts.
 * `requeued`: the epoch moved, or the key's owning process changed: the owner has placed the
 * request again, and its answer follows. `timeout`: it ran past computeTimeout; the request is
 * over and a waiter takes the flight.
 */
export interface AbortMessage {
  readonly type: 'abort'
  readonly id: number
  readonly key: string
  readonly token: number
  readonly reason: 'requeued' | 'timeout'
}

/** Owner → requester: request `id` ends with this error (thrown in `epoch`, if it was thrown). */
export interface ErrorMessage {
  readonly type: 'error'
  readonly id: number
  readonly key: string
  readonly error: WireError
  readonly epoch?: number
}

/** Owner → requester: the answer to a `peek` get: nothing stored, nothing being computed. */
export interface NoneMessage {
  readonly type: 'none'
  readonly id: number
  readonly key: string
}

/** Owner → requester: the answer to `ping` `id`. */
export interface PongMessage {
  readonly type: 'pong'
  readonly id: number
}

/**
 * Owner → caller thread, unasked: a value another process computed, that this owner has just
 * stored as its copy (ReplicaMessage), for the thread's near copies, so that the first call for
 * it there is served in the thread, as every later one is. Sent to the threads that keep near
 * copies and have room for more (they say so in a hello), for values small enough to be kept as
 * themselves; a thread keeps it only where it has room (Near.offer). Like a ValueMessage, it
 * carries the key's fence when it was sent, and is not kept once that fence or the epoch has
 * moved.
 */
export interface CopyMessage {
  readonly type: 'copy'
  readonly key: string
  readonly epoch: number
  readonly value: unknown
  /** when it expires (monotonic() ms); absent for never */
  readonly expires?: number
  readonly fence: Fence
}

export type OwnerMessage = ValueMessage | ComputeMessage | AbortMessage | ErrorMessage | NoneMessage | PongMessage | CopyMessage
/** The owner messages that answer one request. */
export type AnswerMessage = Exclude<OwnerMessage, PongMessage | CopyMessage>

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

// Between an owner and the peer agent, besides the requests above that the agent makes for
// other processes: a flight of this owner that waits on another process (its upstream) is asked
// for there through the agent. An upstream request is named by `rid`, unique per owner instance;
// the agent names it on the bus with this owner's index and incarnation.

/** Owner → agent: ask `peer` for `key` in `epoch` (the agent sends it again until answered). */
export interface UpGetMessage {
  readonly type: 'up-get'
  readonly rid: number
  readonly key: string
  readonly peer: string
  readonly epoch: number
  /** only a value `peer` holds or is computing (see GetMessage.peek) */
  readonly peek: boolean
  /** see GetMessage.refresh */
  readonly refresh: boolean
}

/** Owner → agent: this process computed `key` for upstream request `rid`, under the upstream's `token`. */
export interface UpPutMessage {
  readonly type: 'up-put'
  readonly rid: number
  readonly key: string
  readonly token: number
  readonly epoch: number
  readonly value: Uint8Array
  readonly store: boolean
  readonly life: Lifetime
}

/** Owner → agent: the computation for upstream request `rid` failed. */
export interface UpFailMessage {
  readonly type: 'up-fail'
  readonly rid: number
  readonly key: string
  readonly token: number
  readonly epoch: number
  readonly error: WireError
}

/** Owner → agent: upstream request `rid` is no longer wanted. */
export interface UpDropMessage {
  readonly type: 'up-drop'
  readonly rid: number
  readonly key: string
}

/**
 * Owner → agent: this owner stored a value of `epoch` for `key`, computed for this process's
 * flight (not one fetched or copied from another process): the agent sends copies of it to the
 * processes that keep replicas (see CacheOptions.replicas). Sent only with replicas > 1.
 */
export interface UpStoredMessage {
  readonly type: 'up-stored'
  readonly key: string
  readonly epoch: number
  readonly value: Uint8Array
  /** its instants in this process's clock (lifetime.ts), made time left on the bus */
  readonly expires: number
  readonly staleUntil: number
  /** the ids, on the agent's link, of the requests the owner answers with this value next, and of the one whose put it is: their processes are sent no copy */
  readonly answered: readonly number[]
}

export type OwnerToAgent = UpGetMessage | UpPutMessage | UpFailMessage | UpDropMessage | UpStoredMessage

/**
 * Agent → owner: the live members of the cluster (peer ids, this process's included), and the
 * epoch in which this process joined a running cluster (0 if it did not): while the owner is in
 * that epoch, a key it owns and misses is first asked of the members in `earlier`, in the key's
 * order, but those among `handed`: they have given this process every value of its keys they held.
 */
export interface ViewMessage {
  readonly type: 'view'
  readonly members: readonly string[]
  readonly joined: number
  /**
   * The members this process found when it joined, those still live: among them, not among all
   * the members, is a key's owner before this process. One that joined since holds none of the
   * values stored before, and asking it, when it outranks the one that does, computed them again.
   */
  readonly earlier: readonly string[]
  readonly handed: readonly string[]
}

/** Agent → owner: the value for upstream request `rid`, of `epoch`, as checked bytes. */
export interface UpValueMessage {
  readonly type: 'up-value'
  readonly rid: number
  readonly key: string
  readonly epoch: number
  readonly value: Uint8Array
  readonly buffers: boolean
  readonly hit: boolean
  /** how long it has left to live, from now (its grace, if `stale`) */
  readonly life: Lifetime
  readonly stale: boolean
}

/** Agent → owner: this process computes for upstream request `rid`, under the upstream's `token`. */
export interface UpComputeMessage {
  readonly type: 'up-compute'
  readonly rid: number
  readonly key: string
  readonly epoch: number
  readonly token: number
}

/** Agent → owner: the upstream took the computation away (it ran past computeTimeout there). */
export interface UpAbortMessage {
  readonly type: 'up-abort'
  readonly rid: number
  readonly key: string
  readonly token: number
  /** not a timeout: the key was invalidated or set there, and every request asks again */
  readonly fenced: boolean
}

/** Agent → owner: upstream request `rid` ends with this error. */
export interface UpErrorMessage {
  readonly type: 'up-error'
  readonly rid: number
  readonly key: string
  readonly epoch: number
  readonly error: WireError
}

/** Agent → owner: the peer holds nothing for the peek request `rid`, nor computes it. */
export interface UpNoneMessage {
  readonly type: 'up-none'
  readonly rid: number
  readonly key: string
  readonly epoch: number
}

/** Agent → owner: the peer asked answered nothing within peerTimeout though it beats: compute here, uncached. */
export interface UpLostMessage {
  readonly type: 'up-lost'
  readonly rid: number
  readonly key: string
}

/**
 * Agent → owner: a copy of a value that its owner, another process, stored under `epoch`, as
 * checked bytes. Kept as a fetched value unless the key has a value of this process's own, or
 * its fence has moved since `fence`, read when the copy reached the agent: an invalidation or a
 * `set` of the key carried out here meanwhile has the last word.
 */
export interface ReplicaMessage {
  readonly type: 'replica'
  readonly key: string
  readonly epoch: number
  readonly fence: Fence
  readonly value: Uint8Array
  readonly buffers: boolean
  readonly life: Lifetime
}

export type AgentToOwner = ReplicaMessage | ViewMessage | UpValueMessage | UpComputeMessage | UpAbortMessage | UpErrorMessage | UpNoneMessage | UpLostMessage

/** What an owner thread is started with (its `workerData`). */
export interface OwnerData {
  readonly shared: SharedArrayBuffer
  /** the cache's id: names its connect channels */
  readonly id: string
  readonly index: number
  /** this instance's own id: a restarted owner is another incarnation */
  readonly incarnation: string
  readonly memoryLimit: number
  readonly computeTimeout: number
  readonly policy: 'reject' | 'evict'
  /** What a miss does while the process may not serve: compute uncached, or reject. */
  readonly partition: 'compute' | 'reject'
  readonly peerTimeout: number
  /** How many processes keep each value (Infinity: all); above 1, the owner tells the agent what it stores. */
  readonly replicas: number
  /** The port to the peer agent, when the cache has a bus. */
  readonly agent?: unknown
}

/** The control calls the creating thread makes on an owner (through comlink: not the hot path). */
export interface OwnerControl {
  /** This instance's incarnation; answered once the owner listens for callers. */
  incarnation(): string
  /** Ends every pending request with CacheClosedError and stops accepting links. */
  close(): void
  /**
   * The entries this owner holds of `epoch` of the keys `owned` selects, as bytes, a part at a
   * time (`from`: 0 for the first part, then each part's `next`), so that only a part is ever
   * copied: a process leaving the cluster hands over those of its keys, one that a process joined
   * hands it those of its keys, and copies of its keys go to a process that joins. Only the
   * entries selected are serialized. The first part is taken once the flights still open have
   * ended, or after `ms`: a value on its way here from the process that computed it is handed
   * over too.
   */
  entries(epoch: number, ms: number, owned: Owned, from: number): Promise<Handout>
  /** Carries out a change of keys (an invalidation, or a `set` of `epoch`, ignored in another) in this process, its own or a peer's; says whether it dropped or fenced anything. */
  change(change: KeyChange, epoch: number): boolean
}

/** A stored entry, on its way to the process that owns its key now or once this one has left. */
export interface HandedEntry {
  readonly key: string
  readonly value: Uint8Array
  /** what it has left to live */
  readonly life: Lifetime
}

/**
 * The keys `owner` owns among `members`; with `from` (this process), of those only the values a
 * process that joined takes from this one (Agent#welcome): those it computed or was handed, and
 * the copies fetched from a peer of the keys that were its own before `owner` was among them.
 * Not only those of its own keys: one computed while `from` owned it may have a third owner in
 * between, another process that joined since (and holds none of them).
 */
export interface Owned {
  readonly owner: string
  readonly members: readonly string[]
  readonly from?: string
}

/** A part of what an owner holds (see OwnerControl.entries). */
export interface Handout {
  readonly entries: HandedEntry[]
  /** with the last part: the keys (of those asked for) whose flights are open here (not waiting on another process) */
  readonly open: string[]
  /** `from` for the next part; 0 after the last */
  readonly next: number
}

/** A handout with nothing in it and nothing after it: an owner that moved on, or died meanwhile. */
export const NO_HANDOUT: Handout = { entries: [], open: [], next: 0 }

/** Attached thread → the creating thread, on the cache's reset channel: reset to `version`, answer on `reply`. */
export interface ResetRequestMessage {
  readonly type: 'reset'
  readonly version: Uint8Array
  readonly reply: string
}

/** A change of single keys that the creating thread's peer agent carries to every peer (with a bus). */
export type KeyChange =
  /**
   * `again`: the second round, which only clears what a peer may have fetched from another that
   * had not yet carried out the first: stored values, near copies, and flights that wait on
   * another process with nothing computing here. Computations started after the first round
   * are left alone.
   */
  | { readonly type: 'invalidate'; readonly key: string; readonly prefix: boolean; readonly again: boolean }
  | { readonly type: 'set'; readonly key: string; readonly value: Uint8Array; readonly buffers: boolean; readonly life: Lifetime; readonly again: boolean }

/** Attached thread → the creating thread, on the same channel: carry out this change. */
export interface ChangeRequestMessage {
  readonly type: 'change'
  readonly change: KeyChange
  readonly reply: string
}

/** The creating thread → the thread that asked: the reset or change has taken effect (or failed with `error`). */
export interface ResetReplyMessage {
  readonly type: 'reset-done'
  readonly error?: WireError
}
