import { deserialize } from 'node:v8'
import { CacheClosedError } from '../shared/errors.js'
import { holdingOpen } from '../shared/hold.js'
import type { Key } from '../shared/key.js'
import { Memory } from '../shared/memory/layout.js'
import { Shared } from '../shared/memory/shared.js'
import { askReset } from '../shared/reset-channel.js'
import { statsOf, type CacheStats } from '../shared/stats.js'
import { serializeVersion } from '../shared/values.js'
import { Client, type Compute } from './client.js'

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
export function hostedCache(handle: CacheHandle, shared: Shared, host: Host): Cache {
  const cache = new CoopCache(handle, new Client(shared, handle.id, handle.nearLimit, handle.computeTimeout), host)
  opened.set(handle.id, cache)
  return cache
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
  for (const field of ['nearLimit', 'computeTimeout', 'memoryLimit'] as const) {
    if (!Number.isSafeInteger(handle[field]) || handle[field] < 0) throw new TypeError(`${misuse}: its ${field} is not a count`)
  }
  // Checked first: a handle changed on its way must not pass for the cache it names.
  const open = opened.get(handle.id)
  if (open !== undefined) return open
  const shared = Shared.of(handle.shared)
  const cache = new CoopCache(handle, new Client(shared, handle.id, handle.nearLimit, handle.computeTimeout))
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
export function cached<V>(cache: Cache, key: Key, fn: Compute<V>): Promise<V> {
  const client = clientOf(cache)
  if (client === undefined) return Promise.reject(new TypeError('cached(cache, key, fn): cache must be a cache from createCache() or attach()'))
  return client.get(key, fn)
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
