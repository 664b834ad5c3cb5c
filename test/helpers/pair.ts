// Two or more peers of one cache in the test's own process, on one memoryBus: caches that act as
// separate processes, each with a board of its own. Closed when the test ends, whatever it did.
import type { ExecutionContext } from 'ava'
import { randomUUID } from 'node:crypto'
import { createCache, memoryBus, type Cache, type CacheOptions, type MemoryBus } from 'coop-cache'
import { encodeKey } from '../../src/shared/key.js'
import { peerOf } from '../../src/shared/ring.js'
import { Board } from './board.js'
import { eventually } from './cluster.js'

export interface Member {
  readonly cache: Cache
  readonly board: Board
  readonly resets: unknown[]
}

export interface Peers {
  readonly bus: MemoryBus
  readonly name: string
  readonly members: Member[]
  /** Adds a member (a process joining), closed when the test ends. */
  add(options?: Partial<CacheOptions>): Promise<Member>
  /** Resolves when every member sees exactly the members. */
  settled(): Promise<void>
  /** The `n` first keys `prefix0`, `prefix1`… that `owner` owns under the current members. */
  keysOf(owner: Member, n: number, prefix?: string): string[]
}

/** Resolves when each of `caches` (of one cache name, on one bus) sees all of them as members. */
export async function seeEachOther(t: ExecutionContext, caches: readonly Cache[]): Promise<void> {
  let seen: number[] = []
  await eventually(
    t,
    () => `the peers see ${seen.join(', ')} members, not ${caches.length}`,
    async () => (seen = await Promise.all(caches.map(async (c) => (await c.stats({ local: true })).peers))).every((s) => s === caches.length),
  )
}

/** The `n` first keys `prefix0`, `prefix1`… that `owner` owns among `caches`, by the library's own hashing. */
export function keysOwnedBy(owner: Cache, caches: readonly Cache[], n: number, prefix = 'k'): string[] {
  const ids = caches.map((c) => c.peer as string).sort()
  const keys: string[] = []
  for (let i = 0; keys.length < n; i++) if (peerOf(encodeKey(prefix + i), ids) === owner.peer) keys.push(prefix + i)
  return keys
}

/** `n` peers of a cache named after `word`, with `options` on top of fast heartbeats. */
export async function peers(t: ExecutionContext, word: string, n: number, options: Partial<CacheOptions> = {}): Promise<Peers> {
  const bus = memoryBus()
  const name = `${word}-${randomUUID().slice(0, 8)}`
  const members: Member[] = []
  const add = async (extra: Partial<CacheOptions> = {}) => {
    const resets: unknown[] = []
    const cache = await createCache({ name, bus, threads: 1, heartbeat: 50, peerTimeout: 1000, onReset: (v) => resets.push(v), ...options, ...extra })
    t.teardown(() => cache.close())
    const member = { cache, board: new Board(), resets }
    members.push(member)
    return member
  }
  const cluster: Peers = {
    bus,
    name,
    members,
    add,
    settled: () => seeEachOther(t, members.map((m) => m.cache)),
    keysOf: (owner, count, prefix = 'k') => keysOwnedBy(owner.cache, members.map((m) => m.cache), count, prefix),
  }
  for (let i = 0; i < n; i++) await add()
  await cluster.settled()
  return cluster
}
