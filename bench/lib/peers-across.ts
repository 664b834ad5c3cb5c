// The part of scenario 8 (bench/peers.ts) that runs across three processes A, B, C
// (lib/peers-process.ts, forked from here), every subject on Redis: the hit on a hot key, the
// first and second hit in C of a value computed in A, the stampede across the three, and
// invalidating everything. Subjects interleaved, their order rotated each round.

import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Sizes } from '../peers.js'
import { Rounds } from './measure.js'
import type { Command, FirstSubject, HotSubject, StampedeDone, Tally } from './peers-process.js'
import { stampedeRoundOf, type Gone, type Measured, type StampedeRound, type Timed } from './probes.js'
import { startPeer, type Peer } from './processes.js'
import { COOPS, LIBS, type Coop, type Lib } from './subjects.js'
import { trace, type Options } from './scenario.js'

/** In rotated order: round r starts at the r-th subject. */
export const rotate = <T>(list: readonly T[], r: number): T[] => [...list.slice(r % list.length), ...list.slice(0, r % list.length)]


export const HOT_SUBJECTS: readonly HotSubject[] = ['coopAll', 'lru', 'bento', 'acd']
export const FIRST_SUBJECTS: readonly FirstSubject[] = ['floor', 'coop1', 'coopAll', 'bento', 'acd', 'get']


/** One clear: ms from the call in A to it resolving there, and, if B and C watched, to the old value gone in B, in C. */
interface ClearTimes {
  readonly resolved: number
  readonly watched: boolean
  readonly b: number
  readonly c: number
  /** ms from the call to the start of the last look, in B or C, that still found the old value */
  readonly lastSeen: number
  /** ns per look of B's and C's watchers */
  readonly lookNs: number[]
  readonly error?: string
}

export interface Across {
  readonly hot: Record<HotSubject, Rounds>
  readonly first: Record<FirstSubject, { latency: Rounds; again: Rounds; pipelined: Rounds }>
  readonly stampede: Record<Lib, StampedeRound[]>
  readonly clears: Record<Lib, ClearTimes[]>
  /** ms from A's broadcast ping to both B's and C's answers, taken between the clears: their bus floor */
  readonly clearFloor: number[]
  /** Redis keys (all of them, everyone's) when the clears began */
  readonly dbsize: number
  /** entries A's fill added in C, per coop-cache cache: the values replicated to C */
  readonly replicatedToC: Record<Coop, number>
  /** at the end, per process */
  readonly tally: Tally[]
  readonly firstKeys: number
}

export async function acrossProcesses(sizes: Sizes, options: Options): Promise<Across> {
  const run = `coop-bench-peers-${process.pid}-${randomBytes(4).toString('hex')}`
  const procs = await Promise.all(['A', 'B', 'C'].map((label) => startPeer(new URL('./peers-process.js', import.meta.url), 'peers-process', label)))
  const [a] = procs as [Peer]
  const ask = <T>(peer: Peer, command: Command) => peer.ask<T>(command)
  try {
    trace('peers: open')
    await Promise.all(procs.map((peer) => ask(peer, { cmd: 'open', run, peers: 3 })))
    // A process that joined a running cluster first asks, at each miss of its keys, the key's
    // owner before it joined, until that owner has handed its values over (peerTimeout +
    // heartbeat after the join) or the next reset: one reset now, as in scenario 7, so that
    // misses go as in a settled cluster without waiting out the handover.
    for (const coop of COOPS) await ask(a, { cmd: 'clear', lib: coop, version: 'start' })

    const hot = await hotRounds(a, sizes, options)
    const { first, replicatedToC, firstKeys } = await firstHitRounds(procs, run, sizes, options)
    const stampede = await stampedeRounds(procs, sizes, options)
    trace('peers: drop what the peers keep in Redis before the clears')
    await ask(a, { cmd: 'drop-redis' })
    const dbsize = await ask<number>(a, { cmd: 'dbsize' })
    const { clears, clearFloor } = await clearRounds(procs, run, sizes)
    const tally = await Promise.all(procs.map((peer) => ask<Tally>(peer, { cmd: 'tally' })))
    return { hot, first, stampede, clears, clearFloor, dbsize, replicatedToC, tally, firstKeys }
  } finally {
    // Leave nothing behind: the peers' keys and the plain GET's keys deleted (they expire anyway).
    await ask(a, { cmd: 'drop-redis' }).catch(() => undefined)
    await Promise.all(procs.map((peer) => ask(peer, { cmd: 'close' }).catch(() => undefined)))
    await Promise.all(procs.map((peer) => ask(peer, { cmd: 'exit' }).catch(() => undefined)))
    await Promise.all(procs.map((peer) => (peer.process.exitCode === null ? new Promise((resolve) => peer.process.once('exit', resolve)) : undefined)))
  }
}

async function hotRounds(a: Peer, sizes: Sizes, options: Options): Promise<Record<HotSubject, Rounds>> {
  const calls = (subject: HotSubject) => (subject === 'acd' ? sizes.hotRedisCalls : sizes.hotCalls)
  const hot = (subject: HotSubject, n: number) => a.ask<{ rate: number }>({ cmd: 'hot', subject, n } satisfies Command)
  const out = Object.fromEntries(HOT_SUBJECTS.map((s) => [s, new Rounds()])) as Record<HotSubject, Rounds>
  trace('peers: hot hit, warm-up')
  for (const subject of HOT_SUBJECTS) await hot(subject, Math.ceil(calls(subject) / 5))
  // A round of bentocache's or async-cache-dedupe's left the next round, whichever subject's, at
  // about half its rate (alone, in this order: lru-cache 2.6 M/s right after bentocache, 6.8 M/s
  // after coop-cache), and rotating a fixed order put coop-cache after async-cache-dedupe in every
  // round. So the two in-memory subjects go first, each first in every other round, and twice
  // options.rounds rounds are run: each comes right after a Redis-backed subject equally often.
  for (let r = 0; r < 2 * options.rounds; r++) {
    trace(`peers: hot hit, round ${r + 1}`)
    const order: HotSubject[] = [...(r % 2 === 0 ? (['coopAll', 'lru'] as const) : (['lru', 'coopAll'] as const)), ...(r % 4 < 2 ? (['bento', 'acd'] as const) : (['acd', 'bento'] as const))]
    for (const subject of order) out[subject].addRate((await hot(subject, calls(subject))).rate)
  }
  return out
}

async function firstHitRounds(procs: Peer[], run: string, sizes: Sizes, options: Options) {
  const [a, , c] = procs as [Peer, Peer, Peer]
  const warm = sizes.warmLatency + sizes.warmPipelined
  const count = warm + options.rounds * (sizes.latencyCalls + sizes.pipelinedCalls)
  const ids = await Promise.all(procs.map((peer) => peer.ask<Record<Coop, string>>({ cmd: 'peer-ids' } satisfies Command)))
  const owners = Object.fromEntries(COOPS.map((coop) => [coop, { members: ids.map((x) => x[coop]).sort(), owner: (ids[0] as Record<Coop, string>)[coop] }])) as Record<Coop, { members: string[]; owner: string }>
  await Promise.all(procs.map((peer) => peer.ask({ cmd: 'keys', count, owners } satisfies Command)))
  const heldBeforeFill = await Promise.all(procs.map((peer) => peer.ask<Tally>({ cmd: 'tally' } satisfies Command)))
  trace(`peers: fill ${count} keys per subject in A`)
  await a.ask({ cmd: 'fill' } satisfies Command)
  const heldAfterFill = await Promise.all(procs.map((peer) => peer.ask<Tally>({ cmd: 'tally' } satisfies Command)))
  const replicatedToC = Object.fromEntries(COOPS.map((coop) => [coop, (heldAfterFill[2] as Tally).entries[coop] - (heldBeforeFill[2] as Tally).entries[coop]])) as Record<Coop, number>
  await a.ask({ cmd: 'floor', topic: `${run}-floor`, as: 'echo', to: 'ping' } satisfies Command)
  await c.ask({ cmd: 'floor', topic: `${run}-floor`, as: 'ping', to: 'echo' } satisfies Command)

  const measure = (subject: FirstSubject, mode: 'latency' | 'again' | 'pipelined', from: number, n: number) =>
    c.ask<Measured>({ cmd: 'measure', subject, mode, from, n } satisfies Command)
  const first = Object.fromEntries(FIRST_SUBJECTS.map((s) => [s, { latency: new Rounds(), again: new Rounds(), pipelined: new Rounds() }])) as Across['first']
  const add = (into: Rounds, m: Measured) => {
    into.p50s.push(m.p50 as number)
    into.p99s.push(m.p99 as number)
    into.addRate(m.rate)
  }
  trace('peers: first hit, warm-up')
  for (const subject of FIRST_SUBJECTS) {
    await measure(subject, 'latency', 0, sizes.warmLatency)
    await measure(subject, 'pipelined', sizes.warmLatency, sizes.warmPipelined)
  }
  for (let r = 0; r < options.rounds; r++) {
    trace(`peers: first hit, round ${r + 1}`)
    const base = warm + r * (sizes.latencyCalls + sizes.pipelinedCalls)
    const order = rotate(FIRST_SUBJECTS, r)
    for (const subject of order) {
      add(first[subject].latency, await measure(subject, 'latency', base, sizes.latencyCalls))
      // The same keys again, now that C has had them once: the second hit.
      if (subject !== 'floor' && subject !== 'get') add(first[subject].again, await measure(subject, 'again', base, sizes.latencyCalls))
    }
    for (const subject of order) first[subject].pipelined.addRate((await measure(subject, 'pipelined', base + sizes.latencyCalls, sizes.pipelinedCalls)).rate)
  }
  return { first, replicatedToC, firstKeys: count }
}

async function stampedeRounds(procs: Peer[], sizes: Sizes, options: Options): Promise<Record<Lib, StampedeRound[]>> {
  const out = Object.fromEntries(LIBS.map((lib) => [lib, [] as StampedeRound[]])) as Record<Lib, StampedeRound[]>
  for (let r = 0; r < options.rounds; r++) {
    for (const lib of rotate(LIBS, r)) {
      trace(`peers: stampede ${lib}, round ${r + 1}`)
      const prefix = `st:${lib}:${r}`
      await Promise.all(procs.map((peer) => peer.ask({ cmd: 'stampede-set', lib, prefix, keys: sizes.stampedeKeys, callers: sizes.stampedeCallers } satisfies Command)))
      // Released here: the three 'go's leave one after the other, within microseconds.
      const t0 = process.hrtime.bigint()
      const dones = await Promise.all(procs.map((peer) => peer.ask<StampedeDone>({ cmd: 'stampede-go' } satisfies Command)))
      out[lib].push(stampedeRoundOf(dones, Math.max(...dones.map((d) => Number(BigInt(d.end) - t0) / 1e6))))
    }
  }
  return out
}

/**
 * 2 × sizes.clears clears of each subject (after one not counted), interleaved; every other one
 * B and C watch. Watching keeps B's and C's main threads busy on cores that A and Redis share, so
 * the time to resolve is taken from the unwatched ones, and the watched ones say when the old
 * value was gone.
 */
async function clearRounds(procs: Peer[], run: string, sizes: Sizes): Promise<{ clears: Record<Lib, ClearTimes[]>; clearFloor: number[] }> {
  const [a, b, c] = procs as [Peer, Peer, Peer]
  const watchers = [b, c]
  const out = Object.fromEntries(LIBS.map((lib) => [lib, [] as ClearTimes[]])) as Record<Lib, ClearTimes[]>
  const floor: number[] = []
  await Promise.all(watchers.map((peer) => peer.ask({ cmd: 'fan', topic: `${run}-fan`, as: 'echo', to: 'fan-ping' } satisfies Command)))
  await a.ask({ cmd: 'fan', topic: `${run}-fan`, as: 'ping', to: '' } satisfies Command)
  // The first clear of each subject is not counted: it also drops what the measurements above left.
  for (let i = 0; i <= 2 * sizes.clears; i++) {
    // The bus's own part of a clear that waits for both other processes, spread out as the clears are.
    const fanned = await a.ask<Timed>({ cmd: 'fan-ping', answers: watchers.length } satisfies Command)
    if (i > 0) floor.push(Number(BigInt(fanned.t1) - BigInt(fanned.t0)) / 1e6)
    await sleep(20)
    const watched = i % 2 === 1
    for (const lib of rotate(LIBS, i)) {
      trace(`peers: clear ${lib}, ${i}`)
      const prefix = `inv:${i}`
      await a.ask({ cmd: 'entries', lib, prefix, count: sizes.entries } satisfies Command)
      await Promise.all(watchers.map((peer) => peer.ask({ cmd: 'entries', lib, prefix, count: sizes.held } satisfies Command)))
      if (watched) await Promise.all(watchers.map((peer) => peer.ask({ cmd: 'watch', lib, key: `${prefix}:0` } satisfies Command)))
      const done = await a.ask<Timed>({ cmd: 'clear', lib, version: `${lib}-${i}` } satisfies Command)
      const gone = watched ? await Promise.all(watchers.map((peer) => peer.ask<Gone>({ cmd: 'gone' } satisfies Command))) : []
      // Spread out, as such clears are in real use.
      await sleep(20)
      if (i === 0) continue
      const t0 = BigInt(done.t0)
      const ms = (g: Gone | undefined) => (g === undefined || g.at === null ? Number.NaN : Number(BigInt(g.at) - t0) / 1e6)
      out[lib].push({
        resolved: Number(BigInt(done.t1) - t0) / 1e6,
        watched,
        b: ms(gone[0]),
        c: ms(gone[1]),
        lastSeen: Math.max(...gone.map((g) => (g.lastSeen === null ? Number.NEGATIVE_INFINITY : Number(BigInt(g.lastSeen) - t0) / 1e6))),
        lookNs: gone.map((g) => g.ns / g.looks),
        ...(done.error !== undefined ? { error: done.error } : {}),
      })
    }
  }
  return { clears: out, clearFloor: floor }
}

