// A watcher of a cluster: it joins the cache's topic on the bus only to listen. It sends nothing,
// so no peer ever hears of it, counts it as a member, or hashes a key to it. Every peer beats
// every heartbeat (peer/agent.ts); the observer opens each message as a peer would (seal.ts,
// wire.ts, replay.ts), keeps the latest beat of each sender with when it was heard, measures
// rates between beats, and forgets a peer that said goodbye or has been silent past its own peer
// timeout (which its beats carry), or the timeout it was given.
//
// Without the cache's secret it refuses every signed message, though it could read one: what it
// could not check it does not show. It reads no keys or values, only beats.
import { randomUUID } from 'node:crypto'
import { deserialize } from 'node:v8'
import type { Bus, BusMember } from '../bus/bus.js'
import { count, secretsOf, type CacheOptions } from '../host/options.js'
import { Replays } from '../peer/replay.js'
import { claimsSigned, Seal } from '../peer/seal.js'
import { decodeAll, type Beat, type Reader } from '../peer/wire.js'
import { countersOf, type PeerCounters } from '../shared/stats.js'

export type { PeerCounters } from '../shared/stats.js'

/** Options of {@link observe}. */
export interface ObserveOptions {
  /** The name of the cache to watch, as its processes give it to `createCache`. */
  readonly name: string
  /** The bus its processes are on: `natsBus()`, `redisBus()`, or a cluster primary's `ipcBus()`. */
  readonly bus: Bus
  /**
   * The cache's `secret`, as `createCache` takes it, for a cache created with one. Without it,
   * every signed message is refused, and such a cache shows no peers.
   * @default none
   */
  readonly secret?: CacheOptions['secret']
  /**
   * Milliseconds without a beat after which a peer is no longer shown.
   * @default each peer's own `peerTimeout`, as its beats say it
   */
  readonly timeout?: number
  /** Milliseconds over which the rates are measured, at most. @default 5000 */
  readonly window?: number
}

/** A reset's name across the cluster: its clock (the `epoch` of `stats()`), the peer that made it, and for an initial version when its process was created (ms). */
export interface ResetStamp {
  readonly clock: number
  readonly origin: string
  readonly born: number
}

/** One peer as its latest beat shows it. */
export interface ObservedPeer {
  /** its peer id on the bus (a fresh one per process start) */
  readonly id: string
  /** the name of the host it runs on, and its process id there */
  readonly host: string
  readonly pid: number
  /** its `heartbeat` and `peerTimeout` options, ms: every process of a cluster should have the same */
  readonly heartbeat: number
  readonly peerTimeout: number
  /** the version it is on */
  readonly version: unknown
  /** the clock of the reset it is on, as `stats().epoch`: the same on every peer once they agree */
  readonly epoch: number
  /** the reset it is on */
  readonly stamp: ResetStamp
  /** its own counters, as its `stats({ local: true })` has them (entries, bytes, memoryLimit, hits...) */
  readonly counters: PeerCounters
  /** hits / (hits + misses) since it started; null before its first call */
  readonly hitRatio: number | null
  /** computations started per second, over the last `window` ms; null until two beats were heard */
  readonly computesPerSecond: number | null
  /** when its latest beat was heard (Date.now()) */
  readonly heard: number
  /** milliseconds since then */
  readonly age: number
}

/** What an observer knows now. */
export interface Snapshot {
  /** the cache's name */
  readonly name: string
  /** when the snapshot was taken (Date.now()) */
  readonly at: number
  /** the live peers, by host, then pid */
  readonly peers: readonly ObservedPeer[]
  /** messages refused: malformed, replayed, signed with another key, or signed while the observer has no secret */
  readonly refused: number
  /** why the latest refused message was refused; null when none was */
  readonly refusal: string | null
}

/** A listener on a cache's topic; made by {@link observe}. */
export interface Observer {
  /** its id on the bus, which no peer ever hears of */
  readonly id: string
  /** The peers heard within the timeout, as their latest beats show them. */
  snapshot(): Snapshot
  /** Leaves the bus. */
  close(): Promise<void>
}

interface Sample {
  readonly at: number
  readonly computes: number
}

interface Heard {
  beat: Beat
  version: unknown
  heard: number
  /** computes counts over the window, oldest first */
  readonly samples: Sample[]
}

/**
 * Starts watching cache `options.name` on `options.bus`: resolves once it listens. It never
 * joins the cluster: it sends nothing, and no peer counts it. A beat comes every heartbeat, so
 * the first snapshot that shows every peer is one heartbeat (and a bit) away.
 */
export async function observe(options: ObserveOptions): Promise<Observer> {
  if (typeof options !== 'object' || options === null) throw new TypeError('observe(options): options must be an object such as { name, bus }')
  const { name, bus } = options
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('options.name must be a non-empty string (the cache\'s name)')
  if (typeof bus !== 'object' || bus === null || typeof bus.join !== 'function') {
    throw new TypeError('options.bus must be a bus, such as ipcBus(), natsBus({ servers }) or redisBus({ url })')
  }
  const timeout = options.timeout === undefined ? undefined : count('timeout', options.timeout, 0, 1, 'ms')
  const window = count('window', options.window, 5000, 1, 'ms')
  const watcher = new Watcher(name, secretsOf(options.secret), timeout, window)
  await watcher.join(bus)
  return watcher
}

class Watcher implements Observer {
  readonly id = `observer-${randomUUID()}`
  readonly #name: string
  /** undefined: each peer's own peer timeout */
  readonly #timeout: number | undefined
  readonly #window: number
  readonly #seal: Seal
  readonly #replays: Replays
  // It reads no keys nor values: a limit of 0 refuses any that come its way.
  readonly #reader: Reader
  readonly #peers = new Map<string, Heard>()
  #member: BusMember | undefined
  #refused = 0
  #refusal: string | null = null
  #closed = false

  constructor(name: string, secrets: readonly Uint8Array[], timeout: number | undefined, window: number) {
    this.#name = name
    this.#timeout = timeout
    this.#window = window
    this.#seal = new Seal(name, secrets)
    this.#replays = new Replays(Math.max(30_000, 4 * (timeout ?? 0)), this.#seal.signed)
    this.#reader = { name, self: this.id, memoryLimit: 0 }
  }

  async join(bus: Bus): Promise<void> {
    this.#member = await bus.join(this.#name, this.id, (bytes) => this.#receive(bytes))
  }

  snapshot(): Snapshot {
    const at = Date.now()
    this.#expire(at)
    const peers = [...this.#peers.values()].map((p) => view(p, at))
    peers.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.pid - b.pid || (a.id < b.id ? -1 : 1)))
    return { name: this.#name, at, peers, refused: this.#refused, refusal: this.#refusal }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#peers.clear()
    await this.#member?.leave()
  }

  // Called by the bus's client: whatever a message holds, nothing may be thrown back into it.
  #receive(bytes: Uint8Array): void {
    try {
      const why = this.#hear(bytes)
      if (why !== undefined) this.#refuse(why)
    } catch (error) {
      this.#refuse(`it made the observer fail: ${String((error as Error)?.message ?? error)}`)
    }
  }

  #refuse(why: string): void {
    this.#refused++
    this.#refusal = why
  }

  /** Takes a message in; why it is refused, if it is. */
  #hear(bytes: Uint8Array): string | undefined {
    if (this.#closed || !(bytes instanceof Uint8Array)) return undefined
    if (!this.#seal.signed && claimsSigned(bytes)) return 'it is signed, and the observer was given no secret'
    const payload = this.#seal.open(bytes)
    if (typeof payload === 'string') return payload
    const decoded = decodeAll(payload, this.#reader)
    if (typeof decoded === 'string') return decoded
    const now = Date.now()
    for (const message of decoded.messages) {
      if (!this.#replays.accept(message.f, message.q, message.ts, now)) return 'it was heard before, or its clock is too far off'
      if (message.t === 'bye') this.#peers.delete(message.f)
      else if (message.t === 'beat') this.#beat(message, now)
    }
    return decoded.refused[0]
  }

  #beat(beat: Beat, now: number): void {
    const peer: Heard = this.#peers.get(beat.f) ?? { beat, version: undefined, heard: now, samples: [] }
    peer.beat = beat
    peer.version = deserialize(beat.v)
    peer.heard = now
    const { samples } = peer
    samples.push({ at: now, computes: countersOf(beat.n).computes })
    // Keep the newest sample at or before the window's start, so the rate spans the window.
    while (samples.length > 2 && (samples[1] as Sample).at <= now - this.#window) samples.shift()
    this.#peers.set(beat.f, peer)
    this.#expire(now)
  }

  #expire(now: number): void {
    for (const [id, peer] of this.#peers) if (now - peer.heard > (this.#timeout ?? peer.beat.pto)) this.#peers.delete(id)
    this.#replays.prune(now)
  }
}

function view(peer: Heard, at: number): ObservedPeer {
  const { beat, samples } = peer
  const counters = countersOf(beat.n)
  const calls = counters.hits + counters.misses
  const first = samples[0] as Sample
  const last = samples[samples.length - 1] as Sample
  const span = last.at - first.at
  return {
    id: beat.f,
    host: beat.host,
    pid: beat.pid,
    heartbeat: beat.hb,
    peerTimeout: beat.pto,
    version: peer.version,
    epoch: beat.s.clock,
    stamp: { clock: beat.s.clock, origin: beat.s.origin, born: beat.s.born },
    counters,
    hitRatio: calls === 0 ? null : counters.hits / calls,
    computesPerSecond: span > 0 ? (Math.max(0, last.computes - first.computes) * 1000) / span : null,
    heard: peer.heard,
    age: at - peer.heard,
  }
}
