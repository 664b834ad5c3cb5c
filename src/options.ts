import { availableParallelism } from 'node:os'

/** How a cache is made. Only `name` is required. */
export interface CacheOptions {
  /** The cache's name: it says which cache errors and warnings are about. */
  readonly name: string
  /**
   * The most bytes the stored entries of the whole cache may take, over all threads. An entry
   * costs its serialized size (what crosses the thread boundary) plus its key.
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
   * without a message while the epoch holds). 0 turns near copies off.
   * @default 16777216 (16 MiB)
   */
  readonly nearLimit?: number
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
}

const MiB = 1024 * 1024
const known = new Set(['name', 'memoryLimit', 'version', 'threads', 'computeTimeout', 'policy', 'nearLimit'])

/** Checks the options once, at creation, with a message that names the option at fault. */
export function settle(options: CacheOptions): Settings {
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
  return { name, memoryLimit, version: options.version ?? 0, threads, computeTimeout, policy, nearLimit }
}

function count(field: string, value: unknown, fallback: number, least: number, unit: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < least) {
    const what = least === 0 ? 'a non-negative integer' : 'a positive integer'
    throw new TypeError(`options.${field} must be ${what} (${unit}), got ${String(value)}`)
  }
  return value
}
