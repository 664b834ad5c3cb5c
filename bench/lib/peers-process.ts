// The processes A, B and C of scenario 8 (bench/peers.ts): this file, forked with the role
// 'peers-process'. Each opens every subject of lib/subjects.ts (coop-cache twice, bentocache,
// async-cache-dedupe) on Redis, and does what the scenario asks, one command at a time: hit hot
// keys, fill the keys another process will ask for, ask for them, join the floor's topic, take
// part in a stampede, fill and hold entries, clear them all or watch until they are gone. What it
// measures is measured here, in the process that calls; only the figures cross back.

import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { LRUCache } from 'lru-cache'
import type { BusMember } from 'coop-cache'
import { between, pipelined, throughput } from './measure.js'
import { callTogether } from './callers.js'
import { Floor, echo } from './floor.js'
import { keysOwnedBy } from './owned-keys.js'
import { measureOp, timed, watchUntilGone, type Gone } from './probes.js'
import { forkedRole, servePeer } from './processes.js'
import { COOPS, LIBS, TTL_S, openSubjects, type Coop, type Lib, type Subjects } from './subjects.js'

/** Calls in flight for the throughput figures of a first hit; every one on a key of its own. */
export const IN_FLIGHT = 256
/** the hot keys of the hit on a hot key */
export const HOT = 64
/** ms each stampede `fn` takes */
export const COMPUTE_MS = 50
/** ms a watcher looks for the old value before it gives up */
export const WATCH_MS = 5_000

/** The value of a key: its name inside, so that an answer can be checked. */
export const valueOf = (key: string) => ({ key, name: `item ${key}`, tags: ['a', 'b'] })

/** What the hot-key hit measures: coop-cache (replicas 'all'), lru-cache fetch(), the peers. */
export type HotSubject = 'coopAll' | 'lru' | 'bento' | 'acd'
/** What a first hit measures: each subject, the bus's own round trip, a plain Redis GET. */
export type FirstSubject = Lib | 'floor' | 'get'

export type Command =
  | { cmd: 'open'; run: string; peers: number }
  | { cmd: 'peer-ids' }
  | { cmd: 'keys'; count: number; owners: Record<Coop, { members: string[]; owner: string }> }
  | { cmd: 'fill' }
  | { cmd: 'floor'; topic: string; as: 'ping' | 'echo'; to: string }
  | { cmd: 'fan'; topic: string; as: 'ping' | 'echo'; to: string }
  | { cmd: 'fan-ping'; answers: number }
  | { cmd: 'hot'; subject: HotSubject; n: number }
  | { cmd: 'measure'; subject: FirstSubject; mode: 'latency' | 'again' | 'pipelined'; from: number; n: number }
  | { cmd: 'stampede-set'; lib: Lib; prefix: string; keys: number; callers: number }
  | { cmd: 'stampede-go' }
  | { cmd: 'entries'; lib: Lib; prefix: string; count: number }
  | { cmd: 'watch'; lib: Lib; key: string }
  | { cmd: 'gone' }
  | { cmd: 'clear'; lib: Lib; version: string }
  | { cmd: 'tally' }
  | { cmd: 'drop-redis' }
  | { cmd: 'dbsize' }
  | { cmd: 'close' }
  | { cmd: 'exit' }

export interface StampedeDone {
  readonly computations: number
  /** hrtime (ns, as a string) of this process's last answer */
  readonly end: string
  readonly wrong: number
  readonly errors: string[]
}

export interface Tally {
  /** computations where every call should have been a hit, per subject */
  readonly unexpected: Record<Lib, number>
  /** coop-cache: bus messages refused, per cache */
  readonly dropped: Record<Coop, number>
  /** coop-cache: entries this process holds, per cache */
  readonly entries: Record<Coop, number>
  /** coop-cache (replicas 'all'): near hits among the hot-key calls, and those calls */
  readonly hotNearHits: number
  readonly hotCalls: number
  /** coop-cache (replicas 'all'): near hits among the first hits asked here, and those calls */
  readonly firstNearHits: number
  readonly firstCalls: number
}

function peerProcess(): void {
  let run = ''
  let subjects: Subjects | undefined
  // The keys each subject's first hits go over: for coop-cache, keys A owns; the plain GET's own.
  const firstKeys: Partial<Record<Lib, string[]>> = {}
  let getKeys: string[] = []
  let floor: Floor | undefined
  let floorMember: BusMember | undefined
  // The floor of a clear: A broadcasts, B and C answer (Floor#pingAll).
  let fan: Floor | undefined
  let fanMember: BusMember | undefined
  const unexpected = Object.fromEntries(LIBS.map((lib) => [lib, 0])) as Record<Lib, number>
  const mustNotCompute = (lib: Lib) => (key: string) => {
    unexpected[lib]++
    return valueOf(key)
  }
  let hot: Record<HotSubject, (i: number) => Promise<unknown>> | undefined
  let hotCalls = 0
  let hotNearHits = 0
  let firstCalls = 0
  let firstNearHits = 0
  let stampede: (() => Promise<StampedeDone>) | undefined
  let watching: Promise<Gone> | undefined

  const s = () => subjects!

  /** Hot keys held by every subject of the hot-key hit, near copies made (a thread keeps a copy of what an owner sends it). */
  async function hotSubjects(): Promise<NonNullable<typeof hot>> {
    const keys = Array.from({ length: HOT }, (_, i) => `hot:${i}`)
    const lru = new LRUCache<string, object>({ max: 1_000, fetchMethod: async (key) => valueOf(key) })
    const libs = ['coopAll', 'bento', 'acd'] as const
    for (let pass = 0; pass < 3; pass++) {
      for (const key of keys) {
        await lru.fetch(key)
        for (const lib of libs) await s().all[lib].get(key, pass === 0 ? valueOf : mustNotCompute(lib))
      }
    }
    const at = (i: number) => keys[i & (HOT - 1)] as string
    return {
      coopAll: (i) => s().all.coopAll.get(at(i), mustNotCompute('coopAll')),
      lru: (i) => lru.fetch(at(i)),
      bento: (i) => s().all.bento.get(at(i), mustNotCompute('bento')),
      acd: (i) => s().all.acd.get(at(i), mustNotCompute('acd')),
    }
  }

  servePeer(async (c: Command) => {
    switch (c.cmd) {
      case 'open':
        run = c.run
        subjects = await openSubjects(c.run, c.peers)
        return true
      case 'peer-ids':
        return Object.fromEntries(COOPS.map((coop) => [coop, s().coop[coop].peer as string]))
      case 'keys':
        // coop-cache: keys that A owns in each cache, as every process hashes them; the others: fh:<i>.
        for (const lib of LIBS) {
          const owned = lib === 'coop1' || lib === 'coopAll' ? c.owners[lib] : undefined
          firstKeys[lib] = owned !== undefined ? keysOwnedBy(owned.owner, owned.members, c.count, 'fh') : Array.from({ length: c.count }, (_, i) => `fh:${i}`)
        }
        getKeys = Array.from({ length: c.count }, (_, i) => `${run}:get:${i}`)
        // A process in service has served calls of its own before others fill the cache: a key of
        // its own, asked twice of each subject (coop-cache: computed, then a hit whose answer the
        // calling thread keeps, so that its owners send it copies of what others store).
        for (const lib of LIBS) for (let i = 0; i < 2; i++) await s().all[lib].get(`${run}:served:${process.pid}`, valueOf)
        return true
      case 'fill': {
        // A computes every first-hit key of every subject; the plain GET's keys are SET as JSON.
        for (const lib of LIBS) {
          const keys = firstKeys[lib]!
          await pipelined(keys.length, IN_FLIGHT, (i) => s().all[lib].get(keys[i] as string, valueOf))
        }
        await pipelined(getKeys.length, IN_FLIGHT, (i) => s().redis.set(getKeys[i] as string, JSON.stringify(valueOf(getKeys[i] as string)), 'EX', TTL_S))
        return true
      }
      case 'floor': {
        const topic = c.topic
        if (c.as === 'ping') {
          floor = new Floor(c.to)
          floorMember = floor.member = await s().bus.join(topic, 'ping', floor.receive)
        } else {
          const member: BusMember = await s().bus.join(topic, 'echo', echo(() => member, c.to))
          floorMember = member
        }
        return true
      }
      case 'fan': {
        if (c.as === 'ping') {
          fan = new Floor(c.to)
          fanMember = fan.member = await s().bus.join(c.topic, 'fan-ping', fan.receive)
        } else {
          const member: BusMember = await s().bus.join(c.topic, `fan-echo-${process.pid}`, echo(() => member, c.to))
          fanMember = member
        }
        return true
      }
      case 'fan-ping':
        return timed(() => fan!.pingAll(c.answers))
      case 'hot': {
        hot ??= await hotSubjects()
        const op = hot[c.subject]
        const before = c.subject === 'coopAll' ? (await s().coop.coopAll.stats({ local: true })).nearHits : 0
        await between()
        const rate = await throughput(c.n, op)
        if (c.subject === 'coopAll') {
          hotCalls += c.n
          hotNearHits += (await s().coop.coopAll.stats({ local: true })).nearHits - before
        }
        return { rate }
      }
      case 'measure': {
        const { subject, from } = c
        const op: (i: number) => Promise<unknown> =
          subject === 'floor'
            ? () => floor!.ping()
            : subject === 'get'
              ? async (i) => JSON.parse((await s().redis.get(getKeys[from + i] as string)) as string)
              : (i) => s().all[subject].get(firstKeys[subject]![from + i] as string, mustNotCompute(subject))
        // How many of coop-cache's first hits a near copy served (copies offered as they were stored).
        const first = subject === 'coopAll' && c.mode !== 'again'
        const nearHits = async () => (first ? (await s().coop.coopAll.stats({ local: true })).nearHits : 0)
        const before = await nearHits()
        const measured = await measureOp(c.mode === 'pipelined' ? 'pipelined' : 'latency', c.n, IN_FLIGHT, op)
        if (first) {
          firstCalls += c.n
          firstNearHits += (await nearHits()) - before
        }
        return measured
      }
      case 'stampede-set': {
        const subject = s().all[c.lib]
        let computations = 0
        const compute = async (key: string) => {
          computations++
          await sleep(COMPUTE_MS)
          return valueOf(key)
        }
        stampede = async () => {
          const { wrong, errors } = await callTogether(c.callers, (j) => `${c.prefix}:${j % c.keys}`, (key) => subject.get(key, compute))
          return { computations, end: String(process.hrtime.bigint()), wrong, errors }
        }
        return true
      }
      case 'stampede-go':
        return stampede!()
      case 'entries': {
        const subject = s().all[c.lib]
        await pipelined(c.count, IN_FLIGHT, (i) => subject.get(`${c.prefix}:${i}`, valueOf))
        return true
      }
      case 'watch': {
        // One look after another, each after a turn of the event loop (so that a message from the
        // bus can be read between two), until this process would not serve the old value.
        const subject = s().all[c.lib]
        watching = watchUntilGone(async () => ((await subject.peek(c.key)) ?? undefined) === undefined, WATCH_MS, yieldToLoop)
        return true
      }
      case 'gone':
        return watching!
      case 'clear':
        return timed(() => s().all[c.lib].clearAll(c.version))
      case 'tally': {
        const stats = await Promise.all(COOPS.map((coop) => s().coop[coop].stats({ local: true })))
        const per = (f: (x: (typeof stats)[number]) => number) => Object.fromEntries(COOPS.map((coop, i) => [coop, f(stats[i]!)])) as Record<Coop, number>
        return { unexpected: { ...unexpected }, dropped: per((x) => x.dropped), entries: per((x) => x.entries), hotNearHits, hotCalls, firstNearHits, firstCalls } satisfies Tally
      }
      case 'drop-redis': {
        // What the peers keep in Redis, deleted (each the way its library does), and the plain GET's keys.
        await s().all.bento.clearAll('')
        await s().all.acd.clearAll('')
        if (getKeys.length > 0) await s().redis.unlink(...getKeys)
        getKeys = []
        return true
      }
      case 'dbsize':
        return s().redis.dbsize()
      case 'close':
        await floorMember?.leave()
        await fanMember?.leave()
        floorMember = fanMember = undefined
        floor = fan = undefined
        await subjects?.close()
        subjects = undefined
        return true
      case 'exit':
        setImmediate(() => process.disconnect())
        return true
    }
  })
}

if (forkedRole()?.role === 'peers-process') peerProcess()
