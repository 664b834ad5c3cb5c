import { deserialize, serialize } from 'node:v8'
import type { AnswerMessage, HelloMessage } from '../shared/protocol.js'
import {
  CacheClosedError,
  CacheResetError,
  ComputeTimeoutError,
  OwnerUnavailableError,
  ValueNotCloneableError,
  cloneableError,
  fromWire,
  toWire,
} from '../shared/errors.js'
import { encodeKey, ownerOf, showKey } from '../shared/key.js'
import { Counter } from '../shared/memory/layout.js'
import type { Shared } from '../shared/memory/shared.js'
import { shapeOf } from '../shared/values.js'
import { Near } from './near.js'
import { OwnerLink } from './owner-link.js'

/** What `fn` is given: `signal` aborts when a reset makes the computation stale. */
export interface ComputeContext {
  readonly signal: AbortSignal
  /** The version of the epoch this computation belongs to. */
  readonly version: unknown
}

export type Compute<V> = (context: ComputeContext) => V | PromiseLike<V>

interface Joiner {
  readonly fn: Compute<unknown>
  readonly resolve: (value: unknown) => void
  readonly reject: (error: unknown) => void
}

/**
 * This thread's calls for one key, sent to the owner as one request: calls for a key that this
 * thread is already asking for join it instead of sending another. The first joiner's fn is the
 * one that runs if the owner picks this request to compute.
 */
interface Group {
  readonly key: string
  readonly link: OwnerLink<Group>
  readonly joiners: Joiner[]
  id: number
  /** asking: waiting for the owner's answer; computing: running a joiner's fn under `token` */
  state: 'asking' | 'computing'
  token: number
  controller: AbortController | undefined
}

/**
 * The caller side of one cache in one thread: near copies, this thread's requests, and its links
 * to the owners. Every thread that uses a cache has exactly one.
 */
export class Client {
  readonly shared: Shared
  readonly #near: Near
  readonly #links: OwnerLink<Group>[]
  readonly #groups = new Map<string, Group>()
  readonly #computeTimeout: number
  #closed = false

  constructor(shared: Shared, id: string, nearLimit: number, computeTimeout: number) {
    this.shared = shared
    this.#computeTimeout = computeTimeout
    this.#near = new Near(shared, nearLimit)
    const hello = (): HelloMessage | undefined => {
      const { slot, token } = this.#near.slot
      return slot < 0 ? undefined : { type: 'hello', nearSlot: slot, nearToken: token }
    }
    this.#links = Array.from({ length: shared.owners.count }, (_, index) => {
      const link: OwnerLink<Group> = new OwnerLink(
        shared,
        id,
        index,
        {
          receive: (message) => this.#receive(link, message),
          // Everything that waited for the link asks now; computations in progress carry on, and
          // offer their result to the new owner (which, not knowing their request, drops it).
          linked: () => {
            for (const group of [...link.open.values()]) if (group.state === 'asking') this.#ask(group)
          },
          unreachable: (why) =>
            this.#failLink(link, why === 'closed' ? () => new CacheClosedError() : (key) => new OwnerUnavailableError(showKey(key), index)),
        },
        hello,
      )
      return link
    })
    this.#near.onSlot = () => {
      for (const link of this.#links) link.sayHello()
    }
  }

  get closed(): boolean {
    return this.#closed || this.shared.epochs.closed()
  }

  get<V>(rawKey: unknown, fn: Compute<V>): Promise<V> {
    if (this.closed) return Promise.reject(new CacheClosedError())
    if (typeof fn !== 'function') {
      return Promise.reject(new TypeError(`cached(cache, key, fn): fn must be a function, got ${fn === null ? 'null' : typeof fn}`))
    }
    let key: string
    try {
      key = encodeKey(rawKey)
    } catch (error) {
      return Promise.reject(error)
    }
    const copy = this.#near.get(key)
    if (copy !== undefined) return copy.promise as Promise<V>
    return new Promise<V>((resolve, reject) => {
      const joiner: Joiner = { fn, resolve: resolve as (value: unknown) => void, reject }
      const group = this.#groups.get(key)
      if (group !== undefined) {
        group.joiners.push(joiner)
        return
      }
      const link = this.#links[ownerOf(key, this.#links.length)] as OwnerLink<Group>
      const fresh: Group = { key, link, joiners: [joiner], id: 0, state: 'asking', token: 0, controller: undefined }
      this.#groups.set(key, fresh)
      this.#ask(fresh)
    })
  }

  /** Sends the group's request (again) under a new id. */
  #ask(group: Group): void {
    const { link } = group
    link.open.delete(group.id)
    group.id = link.nextId()
    group.state = 'asking'
    group.token = 0
    link.open.set(group.id, group)
    link.hold()
    if (!link.connected) return link.connect()
    link.post({ type: 'get', id: group.id, key: group.key })
  }

  #receive(link: OwnerLink<Group>, message: AnswerMessage): void {
    const group = link.open.get(message.id)
    if (group === undefined) {
      // An answer to a request this thread gave up on; if it asks us to compute, say no, so the
      // flight passes to a caller that still wants the value.
      if (message.type === 'compute') link.post({ type: 'drop', id: message.id, key: message.key })
      return
    }
    // An answer about another key than its request's is never delivered.
    if (message.key !== group.key || message.type === 'none') return this.shared.counters.add(Counter.Dropped, 1)
    switch (message.type) {
      case 'value': {
        // A value that left the owner before a reset and arrives after it is never delivered.
        if (message.epoch !== this.shared.epochs.epoch()) return this.#ask(group)
        const value = message.bytes === undefined ? message.value : deserialize(message.bytes)
        if (message.stored) this.#near.keep(group.key, value, message.size, message.epoch)
        return this.#finish(group, (joiner) => joiner.resolve(value), message.hit)
      }
      case 'compute':
        // A stale assignment: the owner is about to abort it and place us again. Keep its token
        // all the same, so that abort (or a timeout's) finds this request.
        group.token = message.token
        if (message.epoch !== this.shared.epochs.epoch()) return
        return this.#compute(group, message.token, message.epoch)
      case 'abort':
        return this.#aborted(group, message.token, message.reason)
      case 'error': {
        // A computation's error is a reply like a value: not delivered across a reset.
        if (message.epoch !== undefined && message.epoch !== this.shared.epochs.epoch()) return this.#ask(group)
        const error = fromWire(message.error)
        // Only a computer the cache is closing under gets an error while it computes: stop it.
        if (group.state === 'computing') group.controller?.abort(error)
        return this.#finish(group, (joiner) => joiner.reject(error))
      }
    }
  }

  #compute(group: Group, token: number, epoch: number): void {
    const { epoch: versionEpoch, version } = this.shared.epochs.versionValue(deserialize)
    if (versionEpoch !== epoch) return
    const controller = new AbortController()
    group.state = 'computing'
    group.token = token
    group.controller = controller
    const leader = group.joiners[0] as Joiner
    this.shared.counters.add(Counter.Computes, 1)
    new Promise((resolve) => resolve(leader.fn({ signal: controller.signal, version }))).then(
      (value) => this.#offer(group, token, epoch, value),
      (error) => this.#failed(group, token, epoch, error),
    )
  }

  /** Is `token` still this group's computation? A reset, a timeout or a lost link ends it. */
  #computing(group: Group, token: number): boolean {
    return group.state === 'computing' && group.token === token && this.#groups.get(group.key) === group
  }

  // A computer's result is delivered only if the epoch has not moved: read it first, then tell
  // the owner. The other order loses a call: put sent · reset · epoch read (moved), so the call
  // waits to be placed again, while the owner took the put before it saw the reset and considers
  // the flight done. Read first, and a reset after the read is the owner's to see.
  #offer(group: Group, token: number, epoch: number, value: unknown): void {
    if (!this.#computing(group, token)) return
    let bytes: Buffer
    let buffers: boolean
    try {
      buffers = shapeOf(value).buffers
      bytes = serialize(value)
    } catch (cause) {
      return this.#failed(group, token, epoch, new ValueNotCloneableError(showKey(group.key), cause))
    }
    if (this.shared.epochs.epoch() !== epoch) return this.#again(group)
    this.#finish(group, (joiner) => joiner.resolve(value))
    const transfer = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? [bytes.buffer as ArrayBuffer] : []
    group.link.post({ type: 'put', id: group.id, key: group.key, token, epoch, value: bytes, buffers }, transfer)
  }

  #failed(group: Group, token: number, epoch: number, error: unknown): void {
    if (!this.#computing(group, token)) return
    if (this.shared.epochs.epoch() !== epoch) return this.#again(group)
    this.#finish(group, (joiner) => joiner.reject(error))
    group.link.post({ type: 'fail', id: group.id, key: group.key, token, epoch, error: toWire(cloneableError(error)) })
  }

  /**
   * A computation that straddled a reset is never offered: the group asks again in the new
   * epoch, under a new request, and drops the old one. Not left for the owner to place again:
   * the owner instance that knew it may be gone (restarted), and would never say.
   */
  #again(group: Group): void {
    group.controller?.abort(new CacheResetError(showKey(group.key)))
    group.link.post({ type: 'drop', id: group.id, key: group.key })
    this.#ask(group)
  }

  #aborted(group: Group, token: number, reason: 'requeued' | 'timeout'): void {
    if (group.token !== token) return
    // Timed out before its fn ever ran here: the owner has let the request go; ask again.
    if (reason === 'timeout' && group.state !== 'computing') return this.#ask(group)
    if (reason === 'requeued') {
      // The owner has placed this same request again; its answer follows.
      group.controller?.abort(new CacheResetError(showKey(group.key)))
      group.state = 'asking'
      group.token = 0
      return
    }
    const leader = group.joiners.shift() as Joiner
    const error = new ComputeTimeoutError(showKey(group.key), this.#computeTimeout)
    group.controller?.abort(error)
    leader.reject(error)
    // The owner is done with this request; the other calls of this thread ask again.
    if (group.joiners.length > 0) this.#ask(group)
    else this.#forget(group)
  }

  /**
   * Ends the group's calls. The owner counted the group's request; the calls that joined it here
   * are counted now, when it is known whether the answer was a stored value.
   */
  #finish(group: Group, each: (joiner: Joiner) => void, hit = false): void {
    this.#forget(group)
    const joined = group.joiners.length - 1
    if (joined > 0) this.shared.counters.add(hit ? Counter.LocalHits : Counter.LocalCoalesced, joined)
    for (const joiner of group.joiners) each(joiner)
  }

  #forget(group: Group): void {
    group.link.open.delete(group.id)
    group.link.release()
    if (this.#groups.get(group.key) === group) this.#groups.delete(group.key)
  }

  #failLink(link: OwnerLink<Group>, errorFor: (key: string) => Error): void {
    for (const group of [...link.open.values()]) {
      const error = errorFor(group.key)
      group.controller?.abort(error)
      this.#finish(group, (joiner) => joiner.reject(error))
    }
  }

  /**
   * Resolves when every owner has handled all this thread sent it so far (a computer's put is not
   * awaited by its call), and this thread's near hits are counted, so counters read next include
   * this thread's own calls.
   */
  async flush(): Promise<void> {
    this.#near.countHits()
    await Promise.all(this.#links.map((link) => link.flush()))
  }

  /** Ends this thread's use of the cache: its pending calls reject with CacheClosedError. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#near.clear()
    for (const link of this.#links) {
      this.#failLink(link, () => new CacheClosedError())
      link.close()
    }
  }
}
