import { randomUUID } from 'node:crypto'
import { deserialize } from 'node:v8'
import { Client, type Compute } from './caller.js'
import { CacheClosedError } from './errors.js'
import type { Key } from './key.js'
import { settle, type CacheOptions } from './options.js'
import { Agent } from './peer/agent.js'
import { SharedState, holdingOpen, serializeVersion } from './shared.js'
import { statsOf, type CacheStats } from './stats.js'
import { Supervisor } from './supervisor.js'

export type { CacheStats } from './stats.js'

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
  /** Whether the cache has a bus: then resets wait for the peers. */
  readonly clustered: boolean
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
   * peer (as of its last heartbeat) — or this process alone with `{ local: true }`. They
   * include every call this thread has finished; other threads' calls are counted as their
   * owners handle them, and their near hits at those threads' next turn of the event loop.
   */
  stats(options?: { readonly local?: boolean }): Promise<CacheStats>
  /**
   * In the thread that created the cache: ends the cache for every thread; pending calls
   * reject with CacheClosedError and the owners' threads stop. In a thread that attached:
   * ends this thread's use only (its pending calls reject); the cache goes on for the others.
   */
  close(): Promise<void>
}

let clientOf: (cache: unknown) => Client | undefined

class CoopCache implements Cache {
  readonly name: string
  readonly handle: CacheHandle
  readonly #client: Client
  readonly #supervisor: Supervisor | undefined
  readonly #agent: Agent | undefined

  static {
    clientOf = (cache) => (typeof cache === 'object' && cache !== null && #client in cache ? cache.#client : undefined)
  }

  constructor(handle: CacheHandle, client: Client, supervisor?: Supervisor, agent?: Agent) {
    this.name = handle.name
    this.handle = handle
    this.#client = client
    this.#supervisor = supervisor
    this.#agent = agent
  }

  get version(): unknown {
    return this.#client.shared.versionValue(deserialize).version
  }

  get peer(): string | undefined {
    return this.handle.clustered ? this.#client.shared.self : undefined
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
    if (this.#supervisor === undefined) return this.#client.close()
    if (this.#client.shared.closed()) return
    this.#client.shared.close()
    await holdingOpen(Promise.all([this.#agent?.close(), this.#supervisor.close()]))
    this.#client.close()
  }

  /** The supervisor, in the creating thread; for tests of supervision. */
  static supervisorOf(cache: Cache): Supervisor | undefined {
    return cache instanceof CoopCache ? cache.#supervisor : undefined
  }
}

/** The caches this thread has made or attached to, by id: attach() twice gives one cache. */
const opened = new Map<string, CoopCache>()

/**
 * Makes a cache: starts its owners' threads and resolves when they listen. Rejects with a
 * TypeError or RangeError naming the option at fault.
 */
export async function createCache(options: CacheOptions): Promise<Cache> {
  const settings = settle(options)
  const version = serializeVersion(settings.version, 'options.version')
  const { bus } = settings
  const shared = SharedState.create(settings.threads, version, bus === undefined ? '' : randomUUID())
  const id = randomUUID()
  const agent =
    bus === undefined
      ? undefined
      : new Agent({ name: settings.name, bus, shared, memoryLimit: settings.memoryLimit, heartbeat: settings.heartbeat, peerTimeout: settings.peerTimeout, onReset: settings.onReset })
  const supervisor = new Supervisor(
    shared,
    {
      shared: shared.buffer,
      id,
      owners: settings.threads,
      memoryLimit: settings.memoryLimit,
      computeTimeout: settings.computeTimeout,
      policy: settings.policy,
    },
    agent === undefined ? undefined : (index, port) => agent.ownerPort(index, port),
  )
  await holdingOpen(supervisor.start())
  if (agent !== undefined) {
    try {
      await holdingOpen(agent.join())
    } catch (error) {
      shared.close()
      await holdingOpen(supervisor.close())
      throw error
    }
  }
  const handle: CacheHandle = {
    kind: 'coop-cache',
    name: settings.name,
    id,
    shared: shared.buffer,
    nearLimit: settings.nearLimit,
    computeTimeout: settings.computeTimeout,
    memoryLimit: settings.memoryLimit,
    clustered: agent !== undefined,
  }
  const cache = new CoopCache(handle, new Client(shared, id, settings.nearLimit, settings.computeTimeout), supervisor, agent)
  opened.set(id, cache)
  return cache
}

/**
 * The cache a handle stands for, in this thread: give it `cache.handle`, received through
 * `workerData` or a message. Attaching twice in one thread gives the same cache.
 */
export function attach(handle: CacheHandle): Cache {
  const open = typeof handle === 'object' && handle !== null ? opened.get(handle.id) : undefined
  if (open !== undefined) return open
  if (
    typeof handle !== 'object' ||
    handle === null ||
    handle.kind !== 'coop-cache' ||
    typeof handle.id !== 'string' ||
    !(handle.shared instanceof SharedArrayBuffer)
  ) {
    throw new TypeError('attach(handle): handle must be the `handle` of a cache (cache.handle), passed to this thread unchanged')
  }
  const shared = new SharedState(handle.shared)
  const cache = new CoopCache(handle, new Client(shared, handle.id, handle.nearLimit, handle.computeTimeout))
  opened.set(handle.id, cache)
  return cache
}

/**
 * The value of `key` in the cache's current epoch: a stored value, the result of a
 * computation already under way anywhere in the process, or else `fn`'s result, computed in
 * this thread and shared with every caller that asks meanwhile.
 *
 * Rejects with InvalidKeyError (a TypeError) for a key that is not a string, number, bigint,
 * boolean, null, or an array or plain object of these; with CacheClosedError after close();
 * with ValueNotCloneableError when `fn`'s value cannot go to another thread; with `fn`'s own
 * error when the computation this call waited for threw.
 */
export function cached<V>(cache: Cache, key: Key, fn: Compute<V>): Promise<V> {
  const client = clientOf(cache)
  if (client === undefined) return Promise.reject(new TypeError('cached(cache, key, fn): cache must be a cache from createCache() or attach()'))
  return client.get(key, fn)
}

/**
 * Moves the cache to `version`: from then on no caller sees a value computed before. Resolves
 * when every owner has dropped the old entries. A version the cache already has changes
 * nothing, so every process may call this on the same event.
 */
export async function reset(cache: Cache, version: unknown): Promise<void> {
  const client = clientOf(cache)
  if (client === undefined) throw new TypeError('reset(cache, version): cache must be a cache from createCache() or attach()')
  if (client.closed) throw new CacheClosedError()
  const shared = client.shared
  const handle = cache.handle
  const bytes = serializeVersion(version, 'reset(cache, version): version')
  await holdingOpen(
    shared.reset(bytes).then(async (epoch) => {
      await shared.allFlushed(epoch)
      if (handle.clustered) await shared.allSettled(epoch)
    }),
  )
}

export const supervisorOf = CoopCache.supervisorOf
