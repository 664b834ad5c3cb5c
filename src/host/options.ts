import { availableParallelism } from 'node:os'
import type { Bus } from '../bus/bus.js'
import { TIMER_MAX } from '../shared/clock.js'

/** How a cache is made. Only `name` is required. */
export interface CacheOptions {
  /** The cache's name: it says which cache errors and warnings are about. */
  readonly name: string
  /**
   * The most bytes the stored entries of the whole cache may take in memory, over all threads.
   * An entry counts what it takes: its value as the owner keeps it (a small value as JavaScript
   * on the heap, `{ id }` about 60 bytes; a value over 16 KiB serialized, or one holding
   * Buffers, as its bytes), its key, and about 210 bytes of the owner's own per entry (its
   * record, its slot in the store's map, heap left between entries; about 260 with policy
   * 'evict', whose LRU keeps recency beside). Filling the cache grows the process's
   * RSS by about this much, and a fixed cost beside it: each owner thread's young generation
   * (8 MiB) and what the allocator keeps of messages. `stats().bytes` is what is counted.
   * @default 67108864 (64 MiB)
   */
  readonly memoryLimit?: number
  /**
   * The version the cache starts at: any cloneable value of at most 4 KiB serialized.
   * @default 0
   */
  readonly version?: unknown
  /**
   * How many worker threads host owners; each owns a share of the keys.
   * @default os.availableParallelism()
   */
  readonly threads?: number
  /**
   * Milliseconds a computation may run before its waiters are handed to another caller and
   * its own call rejects with ComputeTimeoutError. 0 means no limit.
   * @default 0
   */
  readonly computeTimeout?: number
  /**
   * What happens to an entry that does not fit under memoryLimit: `'reject'` leaves it out
   * (it is still returned, and counted as `rejected`); `'evict'` drops the owner's least
   * recently used entries to make room.
   * @default 'reject'
   */
  readonly policy?: 'reject' | 'evict'
  /**
   * The most bytes of near copies each thread keeps (values it received, served again
   * without a message while the epoch holds), counted as memoryLimit counts entries: what a
   * copy takes in the thread (its value as JavaScript, a Buffer with the bytes it is a view
   * into), its key, and about 370 bytes of the copy's own. 0 turns near copies off.
   * @default 16777216 (16 MiB)
   */
  readonly nearLimit?: number
  /**
   * The message bus that makes this process one peer of a cluster: every process that gives
   * a cache of the same name a bus to the same place shares one cache with it — one
   * computation per key in the whole cluster, and resets that reach every peer. See
   * `memoryBus()`, `ipcBus()`, and `natsBus()` / `redisBus()` from `coop-cache/nats` and
   * `coop-cache/redis`. Without a bus the cache is this process's alone.
   */
  readonly bus?: Bus
  /**
   * With a bus: milliseconds between two heartbeats of this process. Requests to remote
   * owners are renewed about four times a `peerTimeout`, at most once a heartbeat, until they
   * are answered.
   * @default 200
   */
  readonly heartbeat?: number
  /**
   * With a bus: milliseconds without a heartbeat after which a peer is taken for gone (its
   * keys move to the others; its computations pass to their waiters); and after which a
   * process that has heard nothing from the bus, or none of its own messages back, stops
   * serving stored values until it has caught up. It bounds how long a cut-off process can
   * serve a value older than a reset. Give every process of a cluster the same: where they
   * differ (a deploy that changes it), each process is counted out after its own, and resets
   * wait for the longest, with a warning (`COOP_CACHE_PEER_TIMING`).
   * At least twice the heartbeat; at most 2147483647 (the longest a timer waits).
   * @default 2000
   */
  readonly peerTimeout?: number
  /**
   * Called in the thread that created the cache whenever the cache moves to a new version,
   * from a reset in this process or in a peer, with that version: the place to reload
   * whatever the values are computed from.
   */
  readonly onReset?: (version: unknown) => void
  /**
   * With a bus: what a call that misses does while this process may not serve (it has not heard
   * the bus within peerTimeout: it is cut off, or its creating thread was blocked, or the process
   * was stopped). `'compute'`: compute in this process, uncached, under the version it knows,
   * which the cluster may have left. `'reject'`: reject with CachePartitionedError until it has
   * caught up. Stored values are never served meanwhile, either way.
   * @default 'compute'
   */
  readonly partition?: 'compute' | 'reject'
  /**
   * Milliseconds a computed value lives, for values whose source has no version (a third-party
   * API): an expired value is not served, and is computed again, once. 0 means until the next
   * reset. A call may give its own (`cached(cache, key, fn, { ttl })`).
   * @default 0
   */
  readonly ttl?: number
  /**
   * Milliseconds after a value expires during which callers get it at once while one caller in
   * the cluster recomputes it in the background; if that computation fails, the old value is
   * served until the grace ends. A reset or an invalidation is never softened by it.
   * @default 0
   */
  readonly grace?: number
  /**
   * With a bus: the key (or keys) every message on the bus is authenticated with, an HMAC-SHA256
   * over its bytes, its topic and its sender; a message without a valid one is dropped and
   * counted. Give every process the same keys. Several keys rotate: messages are signed with the
   * first and accepted under any, so add the new key second everywhere, then move it first, then
   * drop the old one. At least 16 bytes each (a string counts its UTF-8 bytes); 32 random bytes
   * is right. Without a secret, a cache on a bus that others can publish to (NATS, Redis) warns
   * once (COOP_CACHE_NO_SECRET).
   */
  readonly secret?: string | Uint8Array | readonly (string | Uint8Array)[]
  /**
   * With a bus: how many processes hold each stored value. `'all'`: every process keeps a copy
   * of every value stored anywhere, so a value computed in one process is a local hit in every
   * other, and a process that is lost loses nothing. A number r: the key's owner and the r − 1
   * processes that rank next for it (the same rendezvous ranking that picks the owner) keep it;
   * 1 keeps each value in its owner alone, and the other processes fetch it over the bus when
   * they first need it. Copies are of the same version as the owner's, reached by every reset,
   * invalidation and `set`, and count against each process's memoryLimit: with `'all'` the
   * cluster holds at most one memoryLimit of distinct values, with r about n / r of them over
   * n processes.
   * @default 'all'
   */
  readonly replicas?: 'all' | number
}

/** Options with every default filled in. */
export interface Settings {
  readonly name: string
  readonly memoryLimit: number
  readonly version: unknown
  readonly threads: number
  readonly computeTimeout: number
  readonly policy: 'reject' | 'evict'
  readonly nearLimit: number
  readonly bus: Bus | undefined
  readonly heartbeat: number
  readonly peerTimeout: number
  readonly onReset: ((version: unknown) => void) | undefined
  readonly partition: 'compute' | 'reject'
  readonly secrets: readonly Uint8Array[]
  readonly ttl: number
  readonly grace: number
  /** Infinity for 'all' */
  readonly replicas: number
}

const MiB = 1024 * 1024
const SECRET_MIN = 16
const known = new Set(['name', 'memoryLimit', 'version', 'threads', 'computeTimeout', 'policy', 'nearLimit', 'bus', 'heartbeat', 'peerTimeout', 'onReset', 'partition', 'secret', 'ttl', 'grace', 'replicas'])

/** Checks the options once, at creation, with a message that names the option at fault. */
export function settingsOf(options: CacheOptions): Settings {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`createCache(options): options must be an object such as { name: 'pages' }, got ${options === null ? 'null' : typeof options}`)
  }
  for (const field of Object.keys(options)) {
    if (!known.has(field)) throw new TypeError(`options.${field} is not an option of createCache; the options are ${[...known].join(', ')}`)
  }
  const { name, policy = 'reject' } = options
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('options.name must be a non-empty string')
  const memoryLimit = count('memoryLimit', options.memoryLimit, 64 * MiB, 1, 'bytes')
  const threads = count('threads', options.threads, availableParallelism(), 1, 'threads')
  const computeTimeout = count('computeTimeout', options.computeTimeout, 0, 0, 'ms, 0 for no limit')
  const nearLimit = count('nearLimit', options.nearLimit, 16 * MiB, 0, 'bytes, 0 to turn near copies off')
  if (threads > 256) throw new RangeError(`options.threads must be at most 256, got ${threads}`)
  if (policy !== 'reject' && policy !== 'evict') throw new TypeError(`options.policy must be 'reject' or 'evict', got ${String(policy)}`)
  const { bus, onReset } = options
  if (bus !== undefined && (typeof bus !== 'object' || bus === null || typeof bus.join !== 'function')) {
    throw new TypeError('options.bus must be a bus, such as memoryBus(), ipcBus(), natsBus({ servers }) or redisBus({ url })')
  }
  if (onReset !== undefined && typeof onReset !== 'function') throw new TypeError(`options.onReset must be a function, got ${typeof onReset}`)
  const heartbeat = count('heartbeat', options.heartbeat, 200, 1, 'ms')
  const peerTimeout = count('peerTimeout', options.peerTimeout, Math.max(2000, 2 * heartbeat), 1, 'ms')
  if (peerTimeout < 2 * heartbeat) throw new RangeError(`options.peerTimeout must be at least twice options.heartbeat (${2 * heartbeat} ms), got ${peerTimeout}`)
  if (peerTimeout > TIMER_MAX) throw new RangeError(`options.peerTimeout must be at most ${TIMER_MAX} ms (the longest a timer waits), got ${peerTimeout}`)
  const { partition = 'compute' } = options
  if (partition !== 'compute' && partition !== 'reject') throw new TypeError(`options.partition must be 'compute' or 'reject', got ${String(partition)}`)
  const secrets = secretsOf(options.secret)
  const ttl = count('ttl', options.ttl, 0, 0, 'ms, 0 for no expiry')
  const grace = count('grace', options.grace, 0, 0, 'ms')
  const replicas = options.replicas === 'all' || options.replicas === undefined ? Infinity : count('replicas', options.replicas, 1, 1, "processes, or 'all'")
  return { name, memoryLimit, version: options.version ?? 0, threads, computeTimeout, policy, nearLimit, bus, heartbeat, peerTimeout, onReset, partition, secrets, ttl, grace, replicas }
}

/** The keys of a `secret` option (as createCache and observe take it), each checked. */
export function secretsOf(secret: CacheOptions['secret']): Uint8Array[] {
  if (secret === undefined) return []
  const list = typeof secret === 'string' || secret instanceof Uint8Array ? [secret] : secret
  if (!Array.isArray(list) || list.length === 0) throw new TypeError('options.secret must be a string, a Uint8Array, or a non-empty array of them')
  return list.map((key: unknown, i) => {
    const where = list === secret ? `options.secret[${i}]` : 'options.secret'
    if (typeof key !== 'string' && !(key instanceof Uint8Array)) throw new TypeError(`${where} must be a string or a Uint8Array, got ${typeof key}`)
    const bytes = typeof key === 'string' ? new TextEncoder().encode(key) : new Uint8Array(key)
    if (bytes.length < SECRET_MIN) throw new RangeError(`${where} is ${bytes.length} bytes; a secret is at least ${SECRET_MIN} bytes (32 random bytes is right)`)
    return bytes
  })
}

/** `options[field]`, checked to be a safe integer of at least `least` (in `unit`), or `fallback` when absent. */
export function count(field: string, value: unknown, fallback: number, least: number, unit: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < least) {
    const what = least === 0 ? 'a non-negative integer' : 'a positive integer'
    throw new TypeError(`options.${field} must be ${what} (${unit}), got ${String(value)}`)
  }
  return value
}
