// What a user would do without coop-cache to compute a value once across processes: cache-aside
// in Redis with a lock per key. The baseline that scenario 7 sets beside coop-cache.
//
//   GET key                      → a value: done (a hit)
//   SET key:lock <me> NX PX      → won the lock: GET key once more (a winner that lost the race
//                                  to a finished computation would compute again), compute,
//                                  SET key value PX, DEL key:lock
//                                → lost it: GET key every pollMs until the value is there
//
// Values travel as JSON, as they usually do in Redis. Every key and lock expires (ttlMs,
// lockMs), so a benchmark leaves nothing behind. No retry if the lock's holder dies: the lock
// expires after lockMs and a poller would wait forever; a real one would take the lock over.

import type { Redis } from 'ioredis'
import { setTimeout as sleep } from 'node:timers/promises'
import { randomUUID } from 'node:crypto'

export interface RedisLockOptions {
  /** ms between two GETs of a caller that waits for another's computation @default 10 */
  readonly pollMs?: number
  /** ms a lock lasts if its holder never releases it @default 5000 */
  readonly lockMs?: number
  /** ms a stored value lasts @default 120000 */
  readonly ttlMs?: number
}

export class RedisLock {
  readonly #redis: Redis
  readonly #me = randomUUID()
  readonly #pollMs: number
  readonly #lockMs: number
  readonly #ttlMs: number
  /** Redis commands sent */
  commands = 0
  /** calls whose second GET, after winning the lock, found the value: a computation saved */
  rechecks = 0

  constructor(redis: Redis, options: RedisLockOptions = {}) {
    this.#redis = redis
    this.#pollMs = options.pollMs ?? 10
    this.#lockMs = options.lockMs ?? 5000
    this.#ttlMs = options.ttlMs ?? 120_000
  }

  async get<V>(key: string, compute: () => Promise<V>): Promise<V> {
    const found = await this.#get<V>(key)
    if (found !== undefined) return found
    this.commands++
    const won = await this.#redis.set(`${key}:lock`, this.#me, 'PX', this.#lockMs, 'NX')
    if (won === 'OK') {
      const again = await this.#get<V>(key)
      if (again !== undefined) {
        this.rechecks++
        this.commands++
        await this.#redis.del(`${key}:lock`)
        return again
      }
      const value = await compute()
      this.commands += 2
      await this.#redis.set(key, JSON.stringify(value), 'PX', this.#ttlMs)
      await this.#redis.del(`${key}:lock`)
      return value
    }
    for (;;) {
      await sleep(this.#pollMs)
      const value = await this.#get<V>(key)
      if (value !== undefined) return value
    }
  }

  /** A plain hit: GET and JSON.parse. */
  async #get<V>(key: string): Promise<V | undefined> {
    this.commands++
    const text = await this.#redis.get(key)
    return text === null ? undefined : (JSON.parse(text) as V)
  }

  /** Stores `value` under `key` as the winner of a lock would. */
  async put(key: string, value: unknown): Promise<void> {
    await this.#redis.set(key, JSON.stringify(value), 'PX', this.#ttlMs)
  }

  /** The hit path alone, for latency: GET and JSON.parse of a stored key. */
  hit<V>(key: string): Promise<V | undefined> {
    return this.#get<V>(key)
  }
}
