// What a user would pick instead of coop-cache to cache a value across processes, each set up
// the way its own documentation recommends for that job, behind one small interface, so that
// scenario 8 (bench/peers.ts) drives them all alike from its processes A, B and C:
//
// - coop-cache on the Redis bus (`redisBus` from coop-cache/redis), one owner thread per process
//   (three processes already share the cores), everything else its default; twice: with
//   `replicas: 1` (a value lives in its owner alone; the others ask for it over the bus) and
//   `replicas: 'all'` (every process keeps a copy of every value; the default).
// - bentocache, multi-tier as its docs set it up: an in-memory L1 (memoryDriver, maxSize 10mb),
//   Redis as L2 (redisDriver) and a Redis bus (redisBusDriver) that tells the other processes'
//   L1s of a change. Its stampede protection is an in-memory lock, per process.
// - async-cache-dedupe with its Redis storage (an ioredis client): every hit is a Redis GET and
//   a JSON.parse; calls are deduplicated within a process.
//
// Every Redis key the peers write carries the run's prefix and expires (TTL below); clearAll
// deletes only that prefix. async-cache-dedupe's `clear()` without a name would FLUSHALL the
// Redis server (src/storage/redis.js), so it is only ever called with the defined name.

import { Redis, type RedisOptions } from 'ioredis'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis'
import { createCache as createDedupe } from 'async-cache-dedupe'
import { cached, createCache, peek, reset, type Cache } from 'coop-cache'
import { redisBus, type RedisBus } from 'coop-cache/redis'
import { REDIS_URL } from './brokers.js'

/** The subjects by the names the figures use. */
export type Lib = 'coop1' | 'coopAll' | 'bento' | 'acd'
export const LIBS: readonly Lib[] = ['coop1', 'coopAll', 'bento', 'acd']
export const COOPS = ['coop1', 'coopAll'] as const
export type Coop = (typeof COOPS)[number]
export const LIB_LABEL: Record<Lib, string> = {
  coop1: "coop-cache, `replicas: 1`",
  coopAll: "coop-cache, `replicas: 'all'`",
  bento: 'bentocache (L1 memory + L2 Redis + Redis bus)',
  acd: 'async-cache-dedupe (Redis storage)',
}

/** s the peers' Redis keys live: longer than a run, so nothing expires while it is measured */
export const TTL_S = 300

export type Compute = (key: string) => unknown

/** One library as a process of the scenario uses it. */
export interface Subject {
  /** The value of `key`: stored, or computed by `compute` as the library has it computed. */
  get(key: string, compute: Compute): Promise<unknown>
  /** What this process would serve for `key` without computing; undefined once it would not. */
  peek(key: string): Promise<unknown>
  /** Drops every entry, in every process, the way the library does it; resolves when its call does. */
  clearAll(version: string): Promise<void>
  close(): Promise<void>
}

/** The ioredis options a URL names (host, port, user, password, db), for the libraries that take options. */
function redisOptions(): RedisOptions {
  const url = new URL(REDIS_URL)
  const db = Number(url.pathname.slice(1))
  return {
    host: url.hostname || '127.0.0.1',
    port: Number(url.port) || 6379,
    ...(url.username !== '' ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password !== '' ? { password: decodeURIComponent(url.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
  }
}

function coopSubject(cache: Cache): Subject {
  return {
    get: (key, compute) => cached(cache, key, async () => compute(key)),
    peek: (key) => peek(cache, key),
    clearAll: (version) => reset(cache, version),
    close: () => cache.close(),
  }
}

function bentoSubject(prefix: string): Subject {
  const connection = redisOptions()
  const bento = new BentoCache({
    default: 'multitier',
    prefix,
    ttl: TTL_S * 1000,
    stores: {
      multitier: bentostore()
        .useL1Layer(memoryDriver({ maxSize: '10mb' }))
        .useL2Layer(redisDriver({ connection }))
        .useBus(redisBusDriver({ connection })),
    },
  })
  return {
    get: (key, compute) => bento.getOrSet({ key, factory: async () => compute(key) }),
    peek: (key) => bento.get({ key }),
    // Its L1, its L2 (SCAN of the prefix, UNLINK), and a message on the bus to the other L1s.
    clearAll: () => bento.clear(),
    close: () => bento.disconnect(),
  }
}

function dedupeSubject(name: string, client: Redis): Subject {
  // The argument carries the compute; `serialize` makes the key alone the cache key.
  type Arg = { readonly key: string; readonly compute: Compute }
  const cache = createDedupe({ ttl: TTL_S, storage: { type: 'redis', options: { client } } }).define(
    name,
    { serialize: (arg: Arg) => arg.key },
    async (arg: Arg) => arg.compute(arg.key),
  )
  const call = cache[name] as (arg: Arg) => Promise<unknown>
  return {
    get: (key, compute) => call({ key, compute }),
    // Its storage key: the defined name, '~', the key (src/cache.js, getStorageKey).
    peek: (key) => cache.get(name, `${name}~${key}`),
    // clear(name): KEYS <name>~* and a DEL of each. Never clear() with no name: FLUSHALL.
    clearAll: () => cache.clear(name),
    close: async () => {},
  }
}

/** A process's subjects, and what the scenario reaches through them. */
export interface Subjects {
  readonly all: Record<Lib, Subject>
  readonly coop: Record<Coop, Cache>
  /** the Redis bus of both coop-cache caches, where the floor's members join too */
  readonly bus: RedisBus
  /** a plain ioredis connection (async-cache-dedupe's client), for the plain GET */
  readonly redis: Redis
  close(): Promise<void>
}

/** Opens every subject of `run` in this process; resolves once each coop-cache cache sees `peers` members. */
export async function openSubjects(run: string, peers: number): Promise<Subjects> {
  const bus = redisBus({ url: REDIS_URL })
  const open = (replicas: 1 | 'all', suffix: string) => createCache({ name: `${run}-${suffix}`, bus, threads: 1, replicas })
  const coop = { coop1: await open(1, 'r1'), coopAll: await open('all', 'all') }
  await Promise.all(Object.values(coop).map((cache) => cache.ready({ peers, timeout: 15_000 })))
  const redis = new Redis(REDIS_URL, { lazyConnect: true })
  await redis.connect()
  const all: Record<Lib, Subject> = {
    coop1: coopSubject(coop.coop1),
    coopAll: coopSubject(coop.coopAll),
    bento: bentoSubject(`${run}:bento`),
    acd: dedupeSubject(`${run}-acd`, redis),
  }
  return {
    all,
    coop,
    bus,
    redis,
    close: async () => {
      for (const lib of LIBS) await all[lib].close()
      await redis.quit()
    },
  }
}
