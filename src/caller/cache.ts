import { deserialize } from 'node:v8'
import { CacheClosedError, CacheNotReadyError } from '../shared/errors.js'
import { holdingOpen } from '../shared/hold.js'
import { monotonic } from '../shared/clock.js'
import { encodeKey, showKey, type Key } from '../shared/key.js'
import type { KeyChange } from '../shared/protocol.js'
import { Memory } from '../shared/memory/layout.js'
import { Shared } from '../shared/memory/shared.js'
import { askChange, askReset } from '../shared/host-channel.js'
import { statsOf, type CacheStats } from '../shared/stats.js'
import { serializeValue, serializeVersion } from '../shared/values.js'
import { Client, msOption, type CallOptions, type Compute } from './client.js'

export type { CacheStats } from '../shared/stats.js'

/**
 * What `cache.handle` is: a plain cloneable value (shared memory and a few settings) that any
 * number of threads can receive, in `workerData` or a message, and pass to `attach()`.
 */
export interface CacheHandle {
  readonly kind: 'coop-cache'
  readonly name: string
  readonly id: string
  readonly shared: SharedArrayBuffer
  readonly nearLimit: number
  readonly computeTimeout: number
  readonly memoryLimit: number
  readonly ttl: number
  readonly grace: number
}

/** A cache: made by `createCache()` in one thread, or `attach()`ed to in any other. */
export interface Cache {
  /** The cache's name. */
  readonly name: string
  /** The version of the latest reset this process knows. */
  readonly version: unknown
  /** This process's id among its peers on the bus (a random UUID); undefined without a bus. */
  readonly peer: string | undefined
  /** The value to hand to another thread, which gets the same cache with `attach(handle)`. */
  readonly handle: CacheHandle
  /**
   * The counters of the whole cache: every thread of this process, and with a bus every live
   * peer (as of its last heartbeat) — or this process alone with `{ local: true }`. They include
   * every call this thread has finished; other threads' calls are counted as their owners handle
   * them, and their near hits at those threads' next turn of the event loop.
   */
  stats(options?: { readonly local?: boolean }): Promise<CacheStats>
  /**
   * Resolves once this process sees at least `peers` live members of its cluster, itself
   * included (at once without a bus, for `peers` 1); rejects with CacheNotReadyError after
   * `timeout` ms. For a process under `node:cluster` that should not start serving alone.
   */
  ready(options?: { readonly peers?: number; readonly timeout?: number }): Promise<void>
  /**
   * In the thread that created the cache: ends the cache for every thread; pending calls reject
   * with CacheClosedError and the owners' threads stop. In a thread that attached: ends this
   * thread's use only (its pending calls reject); the cache goes on for the others.
   */
  close(): Promise<void>
}

/** What the thread that created a cache holds besides its client: the one writer of resets, the owners, the peer agent. */
export interface Host {
  /** Resets to `version` (serialized); resolves when the reset has taken effect everywhere it must. */
  reset(version: Uint8Array): Promise<void>
  /** Carries out a change of keys in this process and, with a bus, in every live peer. */
  change(change: KeyChange): Promise<void>
  /** Ends the cache for every thread. */
  close(): Promise<void>
}

let clientOf: (cache: unknown) => Client | undefined
let hostOf: (cache: unknown) => Host | undefined

class CoopCache implements Cache {
  readonly name: string
  readonly handle: CacheHandle
  readonly #client: Client
  readonly #host: Host | undefined

  static {
    clientOf = (cache) => (typeof cache === 'object' && cache !== null && #client in cache ? cache.#client : undefined)
    hostOf = (cache) => (typeof cache === 'object' && cache !== null && #host in cache ? cache.#host : undefined)
  }

  constructor(handle: CacheHandle, client: Client, host?: Host) {
    this.name = handle.name
    this.handle = handle
    this.#client = client
    this.#host = host
  }

  get version(): unknown {
    return this.#client.shared.epochs.versionValue(deserialize).version
  }

  get peer(): string | undefined {
    const { memory } = this.#client.shared
    return memory.clustered ? memory.self : undefined
  }

  async stats(options?: { readonly local?: boolean }): Promise<CacheStats> {
    // Yield to the event loop even when there is nothing to flush, so that a loop polling
    // stats() cannot starve the links it is waiting on.
    await new Promise((resolve) => setImmediate(resolve))
    if (!this.#client.closed) await this.#client.flush()
    return statsOf(this.#client.shared, this.handle.memoryLimit, this.version, options?.local === true)
  }

  async ready(options?: { readonly peers?: number; readonly timeout?: number }): Promise<void> {
    const where = 'cache.ready(options)'
    if (options !== undefined && (typeof options !== 'object' || options === null)) throw new TypeError(`${where}: options must be an object such as { peers: 3, timeout: 10000 }`)
    if (this.#client.closed) throw new CacheClosedError()
    const peers = options?.peers === undefined ? 1 : options.peers
    if (!Number.isSafeInteger(peers) || peers < 1) throw new TypeError(`${where}: options.peers must be a positive integer (members, this process included), got ${String(peers)}`)
    const timeout = options?.timeout === undefined ? 10_000 : msOption(options.timeout, `${where}: options.timeout`)
    const { liveness, memory } = this.#client.shared
    const seen = () => (memory.clustered ? liveness.peers() + 1 : 1)
    const until = monotonic() + timeout
    while (seen() < peers) {
      if (this.#client.closed) throw new CacheClosedError()
      if (monotonic() >= until) throw new CacheNotReadyError(this.name, peers, seen(), timeout)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  async close(): Promise<void> {
    opened.delete(this.handle.id)
    if (this.#host === undefined) return this.#client.close()
    await this.#host.close()
    this.#client.close()
  }
}

/** The caches this thread has made or attached to, by id: attach() twice gives one cache. */
const opened = new Map<string, CoopCache>()

/** The cache for `handle` in the thread that created it, with its host. */
/** The creating thread's cache: resolves once its links to the owners are up (or a second has passed), so its first calls wait for no link. */
export async function hostedCache(handle: CacheHandle, shared: Shared, host: Host): Promise<Cache> {
  const client = clientOfHandle(handle, shared)
  const cache = new CoopCache(handle, client, host)
  opened.set(handle.id, cache)
  await Promise.race([client.connect(), new Promise((resolve) => setTimeout(resolve, LINK_WAIT).unref())])
  return cache
}

/** The longest createCache waits for its thread's links to the owners. */
const LINK_WAIT = 1000

/** A thread's client of the cache, linking to every owner at once: the first call of a key finds its link made or on its way. */
function clientOfHandle(handle: CacheHandle, shared: Shared): Client {
  const client = new Client(shared, handle.name, handle.id, handle.nearLimit, handle.computeTimeout, { ttl: handle.ttl, grace: handle.grace })
  void client.connect()
  return client
}

/**
 * The cache a handle stands for, in this thread: give it `cache.handle`, received through
 * `workerData` or a message. Attaching twice in one thread gives the same cache. Throws a
 * TypeError for anything that is not a live cache's handle, passed unchanged.
 */
export function attach(handle: CacheHandle): Cache {
  const misuse = 'attach(handle): handle must be the `handle` of a cache (cache.handle), passed to this thread unchanged'
  if (typeof handle !== 'object' || handle === null || handle.kind !== 'coop-cache' || typeof handle.id !== 'string' || !(handle.shared instanceof SharedArrayBuffer)) {
    throw new TypeError(misuse)
  }
  let memory: Memory
  try {
    memory = new Memory(handle.shared)
  } catch (cause) {
    throw new TypeError(`${misuse}: its shared memory is not a cache's`, { cause })
  }
  if (memory.cacheId !== handle.id) throw new TypeError(`${misuse}: its id ${JSON.stringify(handle.id)} is not the id of the cache its shared memory belongs to`)
  for (const field of ['nearLimit', 'computeTimeout', 'memoryLimit', 'ttl', 'grace'] as const) {
    if (!Number.isSafeInteger(handle[field]) || handle[field] < 0) throw new TypeError(`${misuse}: its ${field} is not a count`)
  }
  // Checked first: a handle changed on its way must not pass for the cache it names.
  const open = opened.get(handle.id)
  if (open !== undefined) return open
  const shared = Shared.of(handle.shared)
  const cache = new CoopCache(handle, clientOfHandle(handle, shared))
  opened.set(handle.id, cache)
  return cache
}

/**
 * The value of `key` in the cache's current epoch: a stored value, the result of a computation
 * already under way anywhere in the process (or, with a bus, the cluster), or else `fn`'s
 * result, computed in this thread and shared with every caller that asks meanwhile.
 *
 * Rejects with InvalidKeyError (a TypeError) for a key that is not a string, number, bigint,
 * boolean, null, or an array or plain object of these; with CacheClosedError after close(); with
 * ValueNotCloneableError when `fn`'s value cannot reach other callers as it is; with
 * CachePartitionedError when the process is cut off and the cache has `partition: 'reject'`;
 * with `fn`'s own error when the computation this call waited for threw.
 */
export function cached<V>(cache: Cache, key: Key, fn: Compute<V>, options?: CallOptions): Promise<V> {
  const client = clientOf(cache)
  if (client === undefined) return Promise.reject(new TypeError('cached(cache, key, fn): cache must be a cache from createCache() or attach()'))
  return client.get(key, fn, options)
}

/** The client of a live cache, or the TypeError / CacheClosedError that says why not. */
function liveClient(cache: Cache, call: string): Client {
  const client = clientOf(cache)
  if (client === undefined) throw new TypeError(`${call}: cache must be a cache from createCache() or attach()`)
  if (client.closed) throw new CacheClosedError()
  return client
}

/**
 * The value stored for `key` in this process, if it has one that has not expired; otherwise
 * undefined. Never computes, never waits for a computation, and sends no bus message: with a
 * bus, a value stored only in another process is not seen (a hit there would cost a round trip).
 */
export async function peek<V = unknown>(cache: Cache, key: Key): Promise<V | undefined> {
  const found = await liveClient(cache, 'peek(cache, key)').look(key)
  return found?.value as V | undefined
}

/** Whether this process holds a value for `key` that has not expired (see `peek`). */
export async function has(cache: Cache, key: Key): Promise<boolean> {
  return (await liveClient(cache, 'has(cache, key)').look(key)) !== undefined
}

/**
 * Drops `key`'s value in every thread and, with a bus, every live peer; a computation of the key
 * under way is fenced as a reset fences them all (its value is neither stored nor handed out; its
 * waiters are served by a new computation). With `{ prefix: true }` and an array key, drops
 * every key that starts with it: `['user', 42]` drops `['user', 42, 'profile']`. Resolves once
 * every live peer has dropped it; rejects with ChangeNotConfirmedError if a live peer does not
 * confirm in time (peerTimeout + heartbeat).
 */
export async function invalidate(cache: Cache, key: Key, options?: { readonly prefix?: boolean }): Promise<void> {
  const where = 'invalidate(cache, key, options)'
  const client = liveClient(cache, where)
  const encoded = encodeKey(key)
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new TypeError(`${where}: options must be an object such as { prefix: true }`)
  const prefix = options?.prefix ?? false
  if (typeof prefix !== 'boolean') throw new TypeError(`${where}: options.prefix must be a boolean, got ${typeof prefix}`)
  if (prefix && (!Array.isArray(key) || key.length === 0)) {
    throw new TypeError(`${where}: with { prefix: true }, key must be a non-empty array (the start of the keys to drop), got ${showKey(encoded)}; to drop every key, reset the cache`)
  }
  await change(cache, client, { type: 'invalidate', key: encoded, prefix, again: false })
}

/**
 * Stores `value` for `key` under the current version, in every thread and, with a bus, every
 * live peer, as if it had been computed: for warming, and write-through. A computation of the
 * key under way is fenced: its waiters get this value. `ttl` and `grace` default to the cache's.
 * Rejects with ValueNotCloneableError for a value that cannot be shared as it is.
 */
export async function set(cache: Cache, key: Key, value: unknown, options?: { readonly ttl?: number; readonly grace?: number }): Promise<void> {
  const where = 'set(cache, key, value, options)'
  const client = liveClient(cache, where)
  const encoded = encodeKey(key)
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new TypeError(`${where}: options must be an object such as { ttl: 60000 }`)
  const ttl = options?.ttl === undefined ? cache.handle.ttl : msOption(options.ttl, `${where}: options.ttl`)
  const grace = options?.grace === undefined ? cache.handle.grace : msOption(options.grace, `${where}: options.grace`)
  const { bytes, buffers } = serializeValue(value, encoded)
  if (bytes.byteLength > cache.handle.memoryLimit) throw new RangeError(`${where}: the value is ${bytes.byteLength} bytes serialized, more than the cache's memoryLimit (${cache.handle.memoryLimit})`)
  await change(cache, client, { type: 'set', key: encoded, value: bytes, buffers, life: { ttl, grace }, again: false })
}

/** A change of keys, carried out by the thread that created the cache (asked, from another thread). */
async function change(cache: Cache, client: Client, change: KeyChange): Promise<void> {
  const host = hostOf(cache)
  await holdingOpen(host !== undefined ? host.change(change) : askChange(cache.handle.id, change, () => client.closed))
}

/**
 * Moves the cache to `version`: from then on no caller sees a value computed before. Resolves
 * when every owner has dropped the old entries and, with a bus, every live peer has taken the
 * reset (or after peerTimeout + heartbeat: a peer that has not heard it by then has stopped
 * serving). A version the cache already has changes nothing, so every process may call this on
 * the same event. From a thread that attached, the reset is carried out by the thread that
 * created the cache.
 */
export async function reset(cache: Cache, version: unknown): Promise<void> {
  const client = clientOf(cache)
  if (client === undefined) throw new TypeError('reset(cache, version): cache must be a cache from createCache() or attach()')
  if (client.closed) throw new CacheClosedError()
  const bytes = serializeVersion(version, 'reset(cache, version): version')
  const host = hostOf(cache)
  await holdingOpen(host !== undefined ? host.reset(bytes) : askReset(cache.handle.id, bytes, () => client.closed))
}
