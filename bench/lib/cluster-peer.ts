// The peer processes of scenario 7 (bench/cluster.ts): this file, forked with the role
// 'cluster-peer', is A, B or C. Each opens two caches on the bus it is told, one without a
// secret and one with (every message sealed with HMAC-SHA256), and does what the scenario asks,
// one command at a time: fill keys, join the floor's topic, measure, take part in a stampede,
// reset or note when it heard a reset, invalidate a key or watch until it no longer holds it. What it measures is measured here, in
// the process that calls, so that only the figures cross back over the IPC channel.

import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { cached, createCache, has, invalidate, ipcBus, peek, reset, type Bus, type BusMember, type Cache, type IpcBus } from 'coop-cache'
import { natsBus } from 'coop-cache/nats'
import { redisBus } from 'coop-cache/redis'
import { pipelined } from './measure.js'
import { NATS_URL, REDIS_URL } from './brokers.js'
import { Floor, echo } from './floor.js'
import { keysOwnedBy } from './owned-keys.js'
import { measureOp, timed, watchUntilGone, type Gone } from './probes.js'
import { forkedRole, servePeer } from './processes.js'
import { RedisLock } from './redis-lock.js'

export type BusName = 'ipc' | 'nats' | 'redis'

/** Calls in flight for the throughput figures; every one on a key of its own. */
export const IN_FLIGHT = 256
/** ms each stampede `fn` takes */
export const COMPUTE_MS = 50
/** ms between two GETs of a caller waiting on another's lock */
export const POLL_MS = 10
/** the Redis keys the plain GET hit cycles over */
export const GET_KEYS = 2048

export const valueOf = (i: number) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'] })

/**
 * What A measures: the bus's own round trip ('floor', 'split'), a remote hit on the cache
 * without a secret ('coop') and on the one with a secret ('sealed'), a key A has had before
 * ('again'), and a Redis GET ('get').
 */
export type Subject = 'floor' | 'split' | 'coop' | 'sealed' | 'again' | 'get'

/** The two caches each peer opens on the bus: without a secret, and with one. */
export type Variant = 'plain' | 'sealed'

export type Command =
  | { cmd: 'open'; bus: BusName; name: string; peers: number; redis: boolean; secret: string }
  | { cmd: 'keys'; variant: Variant; members: string[]; owner: string; count: number }
  | { cmd: 'fill' }
  | { cmd: 'floor'; topic: string; as: 'A' | 'B' }
  | { cmd: 'get-fill'; prefix: string }
  | { cmd: 'measure'; subject: Subject; mode: 'latency' | 'pipelined'; from: number; n: number }
  | { cmd: 'stampede-set'; subject: 'coop' | 'lock'; prefix: string; keys: number; callers: number }
  | { cmd: 'stampede-go' }
  | { cmd: 'reset'; variant: Variant; version: string }
  | { cmd: 'heard'; version: string }
  | { cmd: 'tally'; variant: Variant }
  | { cmd: 'inv-hold'; key: string }
  | { cmd: 'inv-watch'; key: string }
  | { cmd: 'inv-gone' }
  | { cmd: 'invalidate'; key: string }
  | { cmd: 'close' }
  | { cmd: 'exit' }

export interface StampedeDone {
  readonly computations: number
  readonly ms: number
  readonly wrong: number
  readonly errors: string[]
  readonly commands: number
  readonly rechecks: number
}

/** ms a watcher peeks for a key before it gives up */
export const WATCH_MS = 10_000

/** What 'open' answers: this process's peer id in each cache. */
export type Opened = Record<Variant, string>

export interface Tally {
  /** computations A ran where it should only have hit */
  readonly unexpected: number
  readonly entries: number
  readonly dropped: number
  readonly hits: number
  readonly misses: number
}

function peerProcess(): void {
  let ipc: IpcBus | undefined
  // The cache without a secret (every measurement) and the one with a secret (remote hits and resets).
  let cache: Cache | undefined
  let sealed: Cache | undefined
  const cacheOf = (variant: Variant) => (variant === 'plain' ? cache : sealed)!
  let floor: Floor | undefined
  let floorMember: BusMember | undefined
  let redis: Redis | undefined
  let lock: RedisLock | undefined
  const keys: Record<Variant, string[]> = { plain: [], sealed: [] }
  let getKeys: string[] = []
  const unexpected: Record<Variant, number> = { plain: 0, sealed: 0 }
  let stampede: (() => Promise<StampedeDone>) | undefined
  // When onReset was called for each version; and whoever waits to hear one.
  const heard = new Map<string, bigint>()
  const hearing = new Map<string, () => void>()
  const onReset = (version: unknown) => {
    heard.set(String(version), process.hrtime.bigint())
    hearing.get(String(version))?.()
  }
  // The watch of 'inv-watch': peeks at a key, one peek after another, until it is gone.
  let watching: Promise<Gone> | undefined
  const mustNotCompute = (variant: Variant) => async () => {
    unexpected[variant]++
    return valueOf(-1)
  }

  const busOf = (name: BusName): Bus =>
    name === 'ipc' ? (ipc ??= ipcBus()) : name === 'nats' ? natsBus({ servers: NATS_URL }) : redisBus({ url: REDIS_URL })
  let bus: Bus | undefined

  servePeer(async (c: Command) => {
    switch (c.cmd) {
      case 'open': {
        bus = busOf(c.bus)
        heard.clear()
        unexpected.plain = unexpected.sealed = 0
        // One bus (one connection, on NATS and Redis) for both caches, as one process would have.
        cache = await createCache({ name: c.name, bus, threads: 1, nearLimit: 0, replicas: 1, onReset })
        sealed = await createCache({ name: `${c.name}-sealed`, bus, threads: 1, nearLimit: 0, replicas: 1, onReset, secret: Buffer.from(c.secret, 'hex') })
        for (const opened of [cache, sealed]) while ((await opened.stats({ local: true })).peers < c.peers) await sleep(20)
        if (c.redis) {
          redis = new Redis(REDIS_URL, { lazyConnect: true })
          await redis.connect()
          lock = new RedisLock(redis, { pollMs: POLL_MS })
        }
        return { plain: cache.peer as string, sealed: sealed.peer as string } satisfies Opened
      }
      case 'keys':
        keys[c.variant] = keysOwnedBy(c.owner, c.members, c.count)
        return keys[c.variant].length
      case 'fill': {
        // Both caches at once: each has an owner thread of its own.
        const fill = (variant: Variant) => {
          const c0 = cacheOf(variant)
          const mine = keys[variant]
          return pipelined(mine.length, 256, (i) => cached(c0, mine[i] as string, async () => valueOf(i)))
        }
        await Promise.all([fill('plain'), fill('sealed')])
        return keys.plain.length + keys.sealed.length
      }
      case 'floor': {
        if (c.as === 'A') {
          floor = new Floor('B')
          floorMember = floor.member = await bus!.join(c.topic, 'A', floor.receive)
        } else {
          const member: BusMember = await bus!.join(c.topic, 'B', echo(() => member, 'A'))
          floorMember = member
        }
        return true
      }
      case 'get-fill':
        getKeys = Array.from({ length: GET_KEYS }, (_, i) => `${c.prefix}:get:${i}`)
        await Promise.all(getKeys.map((key, i) => lock!.put(key, valueOf(i))))
        return getKeys.length
      case 'measure': {
        const variant: Variant = c.subject === 'sealed' ? 'sealed' : 'plain'
        const c0 = cacheOf(variant)
        const mine = keys[variant]
        const op: (i: number) => Promise<unknown> =
          c.subject === 'floor' || c.subject === 'split'
            ? () => floor!.ping(c.subject === 'split')
            : c.subject === 'get'
              ? (i) => lock!.hit(getKeys[(c.from + i) % GET_KEYS] as string)
              : (i) => cached(c0, mine[c.from + i] as string, mustNotCompute(variant))
        return measureOp(c.mode, c.n, IN_FLIGHT, op)
      }
      case 'stampede-set': {
        const { subject, prefix, keys: k, callers } = c
        let computations = 0
        const compute = (key: string) => async () => {
          computations++
          await sleep(COMPUTE_MS)
          return { key }
        }
        const c0 = cache!
        const commands0 = lock?.commands ?? 0
        const rechecks0 = lock?.rechecks ?? 0
        const ask = subject === 'coop' ? (key: string) => cached(c0, key, compute(key)) : (key: string) => lock!.get(key, compute(key))
        stampede = async () => {
          const start = performance.now()
          let wrong = 0
          const errors: string[] = []
          await Promise.all(
            Array.from({ length: callers }, (_, j) => {
              const key = `${prefix}:${j % k}`
              return ask(key).then(
                (value) => {
                  if ((value as { key?: string } | undefined)?.key !== key) wrong++
                },
                (error: unknown) => {
                  if (errors.length < 3) errors.push(String(error))
                },
              )
            }),
          )
          const ms = performance.now() - start
          return { computations, ms, wrong, errors, commands: (lock?.commands ?? 0) - commands0, rechecks: (lock?.rechecks ?? 0) - rechecks0 }
        }
        return true
      }
      case 'stampede-go':
        return stampede!()
      case 'reset': {
        const t0 = process.hrtime.bigint()
        await reset(cacheOf(c.variant), c.version)
        const t1 = process.hrtime.bigint()
        return { t0: String(t0), t1: String(t1) }
      }
      case 'heard': {
        if (!heard.has(c.version)) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 10_000)
            hearing.set(c.version, () => {
              clearTimeout(timer)
              resolve()
            })
          })
          hearing.delete(c.version)
        }
        const at = heard.get(c.version)
        return at === undefined ? null : String(at)
      }
      case 'tally': {
        const stats = await cacheOf(c.variant).stats({ local: true })
        return { unexpected: unexpected[c.variant], entries: stats.entries, dropped: stats.dropped, hits: stats.hits, misses: stats.misses } satisfies Tally
      }
      case 'inv-hold': {
        // Computed here or asked of its owner; either way kept in this process, as `has` says.
        await cached(cache!, c.key, async () => ({ key: c.key, old: true }))
        return has(cache!, c.key)
      }
      case 'inv-watch': {
        const c0 = cache!
        watching = watchUntilGone(async () => (await peek(c0, c.key)) === undefined, WATCH_MS)
        return true
      }
      case 'inv-gone':
        return watching!
      case 'invalidate':
        return timed(() => invalidate(cache!, c.key))
      case 'close':
        await floorMember?.leave()
        floorMember = undefined
        floor = undefined
        await cache?.close()
        cache = undefined
        await sealed?.close()
        sealed = undefined
        await redis?.quit()
        redis = undefined
        lock = undefined
        return true
      case 'exit':
        ipc?.close()
        setImmediate(() => process.disconnect())
        return true
    }
  })
}


if (forkedRole()?.role === 'cluster-peer') peerProcess()
