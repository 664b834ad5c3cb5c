import { deserialize } from 'node:v8'
import type { AnswerMessage, HelloMessage, Lifetime, PutMessage } from '../shared/protocol.js'
import {
  CacheClosedError,
  CacheResetError,
  CallAbortedError,
  CallTimeoutError,
  ComputeTimeoutError,
  OwnerUnavailableError,
  ValueNotCloneableError,
  cloneableError,
  fromWire,
  toWire,
} from '../shared/errors.js'
import { encodeKey, ownerOf, showKey } from '../shared/key.js'
import { Counter } from '../shared/memory/layout.js'
import type { Fence } from '../shared/memory/fences.js'
import type { Shared } from '../shared/memory/shared.js'
import { INLINE_MAX, serializeValue, spansItsBuffer, travelsAsItself } from '../shared/values.js'
import { HIT, REFRESH, REMOTE, STALE, STORED } from '../shared/answer-bits.js'
import { events } from '../events/channels.js'
import { Near } from './near.js'
import { OwnerLink } from './owner-link.js'

/** What `fn` is given. */
export interface ComputeContext {
  /** Aborts when the computation no longer counts: a reset, or an invalidation or `set` of its key. */
  readonly signal: AbortSignal
  /** The version of the epoch this computation belongs to. */
  readonly version: unknown
  /**
   * Every caller waiting for this computation gets the value `fn` returns, but it is not
   * stored: the next call computes again (CoopCache's `{:nocache, value}`). For a result that
   * should not be kept, such as a fallback served while a source is down.
   */
  noStore(): void
}

export type Compute<V> = (context: ComputeContext) => V | PromiseLike<V>

/**
 * How a call's value came (`status.outcome`):
 * - `near`: a copy this thread kept, without a message;
 * - `hit`: stored in this process;
 * - `coalesced`: computed by another caller, while this one waited;
 * - `computed`: this call's `fn` computed it;
 * - `remote`: from another process (stored there, or computed there);
 * - `stale`: expired, served within its `grace` while one caller refreshes it.
 */
export type Outcome = 'hit' | 'near' | 'coalesced' | 'computed' | 'remote' | 'stale'

/** An object a call fills in, as lru-cache's `fetch` does: pass `{}` and read it once the call has settled. */
export interface CallStatus {
  outcome?: Outcome
}

/** What a call may say for itself, the fourth argument of `cached()`. */
export interface CallOptions {
  /** Stops this call's wait (it rejects with CallAbortedError); the computation goes on for every other caller. */
  readonly signal?: AbortSignal
  /**
   * Milliseconds this call waits at most before it rejects with CallTimeoutError; the
   * computation goes on for every other caller. 0 means no limit.
   * @default 0
   */
  readonly timeout?: number
  /**
   * Milliseconds a value this call computes lives; 0 means until the next reset.
   * @default the cache's `ttl`
   */
  readonly ttl?: number
  /**
   * Milliseconds after expiry during which the old value is served at once while one caller
   * recomputes it (and keeps being served if that fails).
   * @default the cache's `grace`
   */
  readonly grace?: number
  /** Filled in with how the value came. */
  readonly status?: CallStatus
}

interface Joiner {
  readonly fn: Compute<unknown>
  readonly resolve: (value: unknown) => void
  readonly reject: (error: unknown) => void
  readonly status: CallStatus | undefined
  readonly life: Lifetime
  /** removes what watches the call's signal and timeout */
  unwatch: (() => void) | undefined
}

const NOTHING = (): void => {}

/**
 * This thread's calls for one key, sent to the owner as one request: calls for a key that this
 * thread is already asking for join it instead of sending another. The first joiner's fn is the
 * one that runs if the owner picks this request to compute.
 */
interface Group {
  readonly key: string
  readonly link: OwnerLink<Group>
  readonly joiners: Joiner[]
  /** a call's request; a background refresh of a stale value; a peek (GetMessage.look) */
  readonly kind: 'call' | 'refresh' | 'look'
  id: number
  /** asking: waiting for the owner's answer; computing: running a joiner's fn under `token` */
  state: 'asking' | 'computing'
  token: number
  computation: Computation | undefined
  /** the key's fence when the owner gave this thread the computation */
  fence: Fence | undefined
  /** performance.now() when this thread's fn started, for compute:end (0 when nobody listens) */
  started: number
  /** the joiner whose fn runs, and how long its value lives */
  computer: Joiner | undefined
  noStore: boolean
}

/**
 * What `fn` is given, and its computation's abort signal. One object per computation, with
 * nothing made until `fn` asks for it: the signal, only when read (most never are, and an
 * AbortController and its signal cost more than the rest of a miss on the calling thread;
 * aborted before it is read, the signal it then makes is aborted already, with the reason), and
 * `noStore` only when read, as a function that may be called on its own (`{ noStore }`).
 */
class Computation implements ComputeContext {
  readonly version: unknown
  readonly #group: Group
  readonly #token: number
  #controller: AbortController | undefined
  #aborted = false
  #reason: unknown

  constructor(group: Group, token: number, version: unknown) {
    this.version = version
    this.#group = group
    this.#token = token
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#aborted) this.#controller.abort(this.#reason)
    }
    return this.#controller.signal
  }

  get noStore(): () => void {
    return () => {
      if (computing(this.#group, this.#token)) this.#group.noStore = true
    }
  }

  /** Aborts the computation's signal (static, so that `fn` is not handed a way to abort it). */
  static abort(computation: Computation | undefined, reason: unknown): void {
    if (computation === undefined || computation.#aborted) return
    computation.#aborted = true
    computation.#reason = reason
    computation.#controller?.abort(reason)
  }
}

/** Is `token` still this group's computation? A reset, a timeout or a lost link ends it. */
function computing(group: Group, token: number): boolean {
  return group.state === 'computing' && group.token === token && group.link.open.get(group.id) === group
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
  /** keys this thread refreshes in the background */
  readonly #refreshing = new Set<string>()
  readonly #computeTimeout: number
  readonly #life: Lifetime
  /** the cache's name, for events */
  readonly #name: string
  #closed = false

  constructor(shared: Shared, name: string, id: string, nearLimit: number, computeTimeout: number, life: Lifetime) {
    this.shared = shared
    this.#name = name
    this.#computeTimeout = computeTimeout
    this.#life = life
    this.#near = new Near(shared, nearLimit)
    const hello = (): HelloMessage | undefined => {
      const { slot, token, offers } = this.#near.slot
      return slot < 0 ? undefined : { type: 'hello', nearSlot: slot, nearToken: token, offers }
    }
    this.#links = Array.from({ length: shared.owners.count }, (_, index) => {
      const link: OwnerLink<Group> = new OwnerLink(
        shared,
        id,
        index,
        {
          receive: (message) => this.#receive(link, message),
          copied: ({ key, value, epoch, expires, fence }) => this.#near.offer(key, value, epoch, expires ?? 0, fence),
          // Everything that waited for the link asks now; computations in progress carry on, and
          // offer their result to the new owner (which, not knowing their request, drops it).
          linked: () => {
            for (const group of [...link.open.values()]) if (group.state === 'asking') this.#ask(group)
          },
          unreachable: (why) =>
            this.#failLink(link, why === 'closed' ? () => new CacheClosedError() : (key) => new OwnerUnavailableError(showKey(key), index)),
          // A value sent as itself that a clone refused after all: the owner's other waiters get
          // the error this thread's calls would have had, and nobody waits for a put that never came.
          refused: (message, error) => {
            if (message.type !== 'put') return false
            link.post({ type: 'fail', id: message.id, key: message.key, token: message.token, epoch: message.epoch, error: toWire(new ValueNotCloneableError(showKey(message.key), error)) })
            return true
          },
        },
        hello,
      )
      return link
    })
    this.#near.onHello = () => {
      for (const link of this.#links) link.sayHello()
    }
  }

  get closed(): boolean {
    return this.#closed || this.shared.epochs.closed()
  }

  get<V>(rawKey: unknown, fn: Compute<V>, options?: CallOptions): Promise<V> {
    // A closed cache serves no near copy (Near#get looks at the closed flag once it has moved):
    // the shared flag is read here only when there is none.
    if (this.#closed) return Promise.reject(new CacheClosedError())
    if (typeof fn !== 'function') {
      return Promise.reject(new TypeError(`cached(cache, key, fn): fn must be a function, got ${fn === null ? 'null' : typeof fn}`))
    }
    let key: string
    let call: Call
    try {
      key = encodeKey(rawKey)
      call = options === undefined ? NO_OPTIONS : callOf(options, this.#life)
    } catch (error) {
      return Promise.reject(error)
    }
    const copy = this.#near.get(key)
    if (copy !== undefined) {
      if (call.status !== undefined) call.status.outcome = 'near'
      if (events.hit.hasSubscribers) events.hit.publish({ cache: this.#name, key: showKey(key), outcome: 'near' })
      return copy.promise as Promise<V>
    }
    if (this.shared.epochs.closed()) return Promise.reject(new CacheClosedError())
    if (call.signal?.aborted) return Promise.reject(new CallAbortedError(showKey(key), call.signal.reason))
    return new Promise<V>((resolve, reject) => {
      const joiner: Joiner = { fn, resolve: resolve as (value: unknown) => void, reject, status: call.status, life: call === NO_OPTIONS ? this.#life : call.life, unwatch: undefined }
      const group = this.#groups.get(key) ?? this.#start(key, 'call')
      group.joiners.push(joiner)
      if (call.signal !== undefined || call.timeout > 0) this.#watch(group, joiner, call)
      if (group.joiners.length === 1 && group.id === 0) this.#ask(group)
    })
  }

  /** A new request for `key`, not yet sent; a call's is the one other calls of this thread join. */
  #start(key: string, kind: Group['kind']): Group {
    const link = this.#links[ownerOf(key, this.#links.length)] as OwnerLink<Group>
    const group: Group = { key, link, joiners: [], kind, id: 0, state: 'asking', token: 0, computation: undefined, fence: undefined, started: 0, computer: undefined, noStore: false }
    if (kind === 'call') this.#groups.set(key, group)
    else if (kind === 'refresh') this.#refreshing.add(key)
    return group
  }

  /** The call stops waiting when its signal aborts or its timeout passes; nobody else does. */
  #watch(group: Group, joiner: Joiner, call: Call): void {
    const { signal, timeout } = call
    const leave = (error: Error) => this.#leaveCall(group, joiner, error)
    const onAbort = () => leave(new CallAbortedError(showKey(group.key), signal?.reason))
    signal?.addEventListener('abort', onAbort, { once: true })
    const timer = timeout > 0 ? setTimeout(() => leave(new CallTimeoutError(showKey(group.key), timeout)), timeout) : undefined
    joiner.unwatch = () => {
      signal?.removeEventListener('abort', onAbort)
      clearTimeout(timer)
    }
  }

  /**
   * One call stops waiting. Its group goes on for the others; a group left with no call drops its
   * request (the owner hands a computation it was given to another waiter), unless it is
   * computing: the computation goes on, for the callers of other threads and processes that
   * wait for it, and its value is stored.
   */
  #leaveCall(group: Group, joiner: Joiner, error: Error): void {
    const at = group.joiners.indexOf(joiner)
    if (at < 0) return
    group.joiners.splice(at, 1)
    joiner.unwatch?.()
    joiner.reject(error)
    if (group.joiners.length > 0 || group.state === 'computing') return
    group.link.post({ type: 'drop', id: group.id, key: group.key })
    this.#forget(group)
  }

  /**
   * The stored value of `key` that this process holds and has not expired, as `{ value }`, or
   * undefined: never computes, never waits for a computation (`peek()`).
   */
  look(rawKey: unknown): Promise<{ readonly value: unknown } | undefined> {
    if (this.closed) return Promise.reject(new CacheClosedError())
    let key: string
    try {
      key = encodeKey(rawKey)
    } catch (error) {
      return Promise.reject(error)
    }
    const copy = this.#near.get(key)
    if (copy !== undefined) return copy.promise.then((value) => ({ value }))
    return new Promise((resolve, reject) => {
      const group = this.#start(key, 'look')
      group.joiners.push({ fn: NOTHING, resolve: resolve as (value: unknown) => void, reject, status: undefined, life: this.#life, unwatch: undefined })
      this.#ask(group)
    })
  }

  /** Recomputes a stale value in the background, with the fn of the call that was served it. */
  #refresh(key: string, joiner: Joiner): void {
    if (this.#refreshing.has(key) || this.closed) return
    const group = this.#start(key, 'refresh')
    group.joiners.push({ fn: joiner.fn, resolve: NOTHING, reject: NOTHING, status: undefined, life: joiner.life, unwatch: undefined })
    this.#ask(group)
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
    if (!link.connected) return void link.connect()
    const { id, key, kind } = group
    link.post(kind === 'call' ? { type: 'get', id, key } : kind === 'refresh' ? { type: 'get', id, key, refresh: true } : { type: 'get', id, key, look: true })
  }

  /** Links to every owner now, rather than at each one's first call: resolves when they are up (or found unreachable). */
  connect(): Promise<unknown> {
    return Promise.all(this.#links.map((link) => link.connect()))
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
    if (message.key !== group.key) return this.shared.counters.add(Counter.Dropped, 1)
    switch (message.type) {
      case 'none':
        if (group.kind !== 'look') return this.shared.counters.add(Counter.Dropped, 1)
        return this.#finish(group, (joiner) => joiner.resolve(undefined))
      case 'value': {
        // A value that left the owner before a reset, or an invalidation or set of its key, and
        // arrives after it is never delivered.
        if (message.epoch !== this.shared.epochs.epoch() || !this.shared.fences.holds(message.fence)) return this.#ask(group)
        // The key was set while this thread computed it: the set value is the one delivered.
        if (group.state === 'computing') {
          this.#computed(group, 'fenced')
          Computation.abort(group.computation, new CacheResetError(showKey(group.key)))
        }
        const value = message.bytes === undefined ? message.value : deserialize(message.bytes)
        const { how } = message
        const hit = (how & HIT) !== 0
        const stale = (how & STALE) !== 0
        if ((how & STORED) !== 0 && !stale) this.#near.keep(group.key, value, message.epoch, message.expires ?? 0, message.fence)
        const outcome: Outcome = stale ? 'stale' : (how & REMOTE) !== 0 ? 'remote' : hit ? 'hit' : 'coalesced'
        const first = group.joiners[0]
        if (group.kind === 'look') return this.#finish(group, (joiner) => joiner.resolve({ value }))
        this.#published(group, outcome, hit || stale)
        this.#finish(group, (joiner) => settle(joiner, value, outcome), hit)
        if ((how & REFRESH) !== 0 && group.kind === 'call' && first !== undefined) this.#refresh(group.key, first)
        return
      }
      case 'compute':
        // A stale assignment: the owner is about to abort it and place us again. Keep its token
        // all the same, so that abort (or a timeout's) finds this request.
        group.token = message.token
        if (message.epoch !== this.shared.epochs.epoch()) return
        group.fence = message.fence
        return this.#compute(group, message.token, message.epoch)
      case 'abort':
        return this.#aborted(group, message.token, message.reason)
      case 'error': {
        // A computation's error is a reply like a value: not delivered across a reset.
        if (message.epoch !== undefined && message.epoch !== this.shared.epochs.epoch()) return this.#ask(group)
        const error = fromWire(message.error)
        // Only a computer the cache is closing under gets an error while it computes: stop it.
        if (group.state === 'computing') Computation.abort(group.computation, error)
        return this.#finish(group, (joiner) => joiner.reject(error))
      }
    }
  }

  #compute(group: Group, token: number, epoch: number): void {
    const { epoch: versionEpoch, version } = this.shared.epochs.versionValue(deserialize)
    if (versionEpoch !== epoch) return
    const leader = group.joiners[0]
    // Every call left while the computation was on its way here: hand it back.
    if (leader === undefined || group.kind === 'look') {
      group.link.post({ type: 'drop', id: group.id, key: group.key })
      return this.#forget(group)
    }
    const context = new Computation(group, token, version)
    group.state = 'computing'
    group.token = token
    group.computation = context
    group.computer = leader
    group.noStore = false
    this.shared.counters.add(Counter.Computes, 1)
    group.started = 0
    if (events.computeStart.hasSubscribers || events.computeEnd.hasSubscribers) {
      group.started = performance.now()
      events.computeStart.publish({ cache: this.#name, key: showKey(group.key) })
    }
    let result: unknown
    let thenable: boolean
    try {
      result = leader.fn(context)
      thenable = isThenable(result)
    } catch (error) {
      return this.#failed(group, token, epoch, error)
    }
    // A value returned as it is is offered at once; a promise (any thenable, as `await` takes
    // it) once it settles. Offering at once saves a promise and a turn of microtasks per miss.
    if (!thenable) return this.#offer(group, token, epoch, result)
    new Promise((resolve) => resolve(result)).then(
      (value) => this.#offer(group, token, epoch, value),
      (error) => this.#failed(group, token, epoch, error),
    )
  }

  // A computer's result is delivered only if the epoch has not moved: read it first, then tell
  // the owner. The other order loses a call: put sent · reset · epoch read (moved), so the call
  // waits to be placed again, while the owner took the put before it saw the reset and considers
  // the flight done. Read first, and a reset after the read is the owner's to see.
  #offer(group: Group, token: number, epoch: number, value: unknown): void {
    if (!computing(group, token)) return
    // Small plain data goes as itself (one structured clone, and the owner keeps what arrives);
    // anything else as its bytes, which also says here, at once, whether it can be shared at all.
    let serialized: { readonly bytes: Buffer; readonly buffers: boolean } | undefined
    if (!asItself(value)) {
      try {
        serialized = serializeValue(value, group.key)
      } catch (error) {
        return this.#failed(group, token, epoch, error)
      }
    }
    if (this.#fenced(group, epoch)) return this.#again(group)
    const { computer, noStore } = group
    this.#computed(group, 'ok')
    this.#published(group, 'coalesced', false, computer)
    // The put goes out before the calls resolve (the outbox flushes before the code that awaited
    // them runs on): a call made once one of them has resolved finds the flight over at the owner.
    // Fields that say what is most common are left out (see PutMessage).
    const life = computer?.life ?? this.#life
    const put: { -readonly [F in keyof PutMessage]: PutMessage[F] } = { type: 'put', id: group.id, key: group.key, token, epoch }
    if (life.ttl !== 0 || life.grace !== 0) put.life = life
    if (noStore) put.store = false
    if (serialized === undefined) {
      put.value = value
      group.link.post(put)
    } else {
      const { bytes, buffers } = serialized
      put.bytes = bytes
      if (buffers) put.buffers = true
      group.link.post(put, spansItsBuffer(bytes) ? [bytes.buffer as ArrayBuffer] : [])
    }
    this.#finish(group, (joiner) => settle(joiner, value, joiner === computer ? 'computed' : 'coalesced'))
  }

  #failed(group: Group, token: number, epoch: number, error: unknown): void {
    if (!computing(group, token)) return
    if (this.#fenced(group, epoch)) return this.#again(group)
    this.#computed(group, 'error', error)
    group.link.post({ type: 'fail', id: group.id, key: group.key, token, epoch, error: toWire(cloneableError(error)) })
    this.#finish(group, (joiner) => fail(joiner, error))
  }

  /** compute:end, for a computation of this thread that ended (once: `started` is cleared). */
  #computed(group: Group, outcome: 'ok' | 'error' | 'fenced', error?: unknown): void {
    if (group.started === 0) return
    const duration = performance.now() - group.started
    group.started = 0
    if (events.computeEnd.hasSubscribers) {
      events.computeEnd.publish(outcome === 'error' ? { cache: this.#name, key: showKey(group.key), duration, outcome, error } : { cache: this.#name, key: showKey(group.key), duration, outcome })
    }
  }

  /**
   * hit or miss, for each call of the group: a value from a store (here, or in the process that
   * answered: `stored`) is a hit; one computed for it (by `computer`, or another) is a miss.
   */
  #published(group: Group, outcome: Outcome, stored: boolean, computer?: Joiner): void {
    if (group.kind !== 'call') return
    const cache = this.#name
    if (stored || outcome === 'hit' || outcome === 'stale') {
      if (!events.hit.hasSubscribers) return
      const key = showKey(group.key)
      const how = outcome === 'stale' || outcome === 'remote' ? outcome : 'hit'
      for (let i = 0; i < group.joiners.length; i++) events.hit.publish({ cache, key, outcome: how })
      return
    }
    if (!events.miss.hasSubscribers) return
    const key = showKey(group.key)
    const how = outcome === 'remote' ? 'remote' : 'coalesced'
    for (const joiner of group.joiners) events.miss.publish({ cache, key, outcome: joiner === computer ? 'computed' : how })
  }

  /**
   * The computation no longer counts: a reset, or an invalidation or set of its key (the owner's
   * abort may still be on its way), came after it was given. Its result is not handed even to
   * this thread's callers. (A fence shared with another key costs a computation, never a value.)
   */
  #fenced(group: Group, epoch: number): boolean {
    return this.shared.epochs.epoch() !== epoch || (group.fence !== undefined && !this.shared.fences.holds(group.fence))
  }

  /**
   * A computation that straddled a reset is never offered: the group asks again in the new
   * epoch, under a new request, and drops the old one. Not left for the owner to place again:
   * the owner instance that knew it may be gone (restarted), and would never say.
   */
  #again(group: Group): void {
    this.#computed(group, 'fenced')
    Computation.abort(group.computation, new CacheResetError(showKey(group.key)))
    group.link.post({ type: 'drop', id: group.id, key: group.key })
    this.#ask(group)
  }

  #aborted(group: Group, token: number, reason: 'requeued' | 'timeout'): void {
    if (group.token !== token) return
    // Timed out before its fn ever ran here: the owner has let the request go; ask again.
    if (reason === 'timeout' && group.state !== 'computing') return this.#ask(group)
    if (reason === 'requeued') {
      // The owner has placed this same request again; its answer follows.
      this.#computed(group, 'fenced')
      Computation.abort(group.computation, new CacheResetError(showKey(group.key)))
      group.state = 'asking'
      group.token = 0
      return
    }
    const error = new ComputeTimeoutError(showKey(group.key), this.#computeTimeout)
    this.#computed(group, 'error', error)
    Computation.abort(group.computation, error)
    const at = group.computer === undefined ? -1 : group.joiners.indexOf(group.computer)
    if (at >= 0) fail(group.joiners.splice(at, 1)[0] as Joiner, error)
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
    if (joined > 0 && group.kind === 'call') this.shared.counters.add(hit ? Counter.LocalHits : Counter.LocalCoalesced, joined)
    for (const joiner of group.joiners) each(joiner)
  }

  #forget(group: Group): void {
    group.link.open.delete(group.id)
    group.link.release()
    if (this.#groups.get(group.key) === group) this.#groups.delete(group.key)
    if (group.kind === 'refresh') this.#refreshing.delete(group.key)
  }

  #failLink(link: OwnerLink<Group>, errorFor: (key: string) => Error): void {
    for (const group of [...link.open.values()]) {
      const error = errorFor(group.key)
      Computation.abort(group.computation, error)
      this.#finish(group, (joiner) => fail(joiner, error))
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

/** A call's options, checked once. */
interface Call {
  readonly signal: AbortSignal | undefined
  readonly timeout: number
  readonly life: Lifetime
  readonly status: CallStatus | undefined
}

const NO_OPTIONS: Call = { signal: undefined, timeout: 0, life: { ttl: 0, grace: 0 }, status: undefined }

/** A duration option: a finite number of milliseconds, at least 0. */
export function msOption(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${where} must be a number of milliseconds, at least 0; got ${typeof value === 'number' ? value : typeof value}`)
  }
  return Math.ceil(value)
}

function callOf(options: CallOptions, defaults: Lifetime): Call {
  const where = 'cached(cache, key, fn, options)'
  if (typeof options !== 'object' || options === null) throw new TypeError(`${where}: options must be an object, got ${options === null ? 'null' : typeof options}`)
  const { signal, timeout, ttl, grace, status } = options
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`${where}: options.signal must be an AbortSignal`)
  if (status !== undefined && (typeof status !== 'object' || status === null)) throw new TypeError(`${where}: options.status must be an object the call fills in, such as {}`)
  return {
    signal,
    timeout: timeout === undefined ? 0 : msOption(timeout, `${where}: options.timeout`),
    life: {
      ttl: ttl === undefined ? defaults.ttl : msOption(ttl, `${where}: options.ttl`),
      grace: grace === undefined ? defaults.grace : msOption(grace, `${where}: options.grace`),
    },
    status,
  }
}

/** Whether `x` is something a promise would wait for (its `then` is read once more by the promise). */
function isThenable(x: unknown): boolean {
  return (typeof x === 'object' || typeof x === 'function') && x !== null && typeof (x as { then?: unknown }).then === 'function'
}

/**
 * Whether `value` may go to its owner as itself (values.ts travelsAsItself). Looking through it
 * runs its getters and a Proxy's traps, which may throw: such a value goes the serialized way,
 * whose error says it cannot be shared, rather than throw out of the code that offers it (an
 * answer's handler, or a promise's callback), which would end the thread and strand its waiters.
 */
function asItself(value: unknown): boolean {
  try {
    return travelsAsItself(value, INLINE_MAX)
  } catch {
    return false
  }
}

function settle(joiner: Joiner, value: unknown, outcome: Outcome): void {
  joiner.unwatch?.()
  if (joiner.status !== undefined) joiner.status.outcome = outcome
  joiner.resolve(value)
}

function fail(joiner: Joiner, error: unknown): void {
  joiner.unwatch?.()
  joiner.reject(error)
}
