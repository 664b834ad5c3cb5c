// The peer agent: this process's member of the cluster. It lives in the thread that created
// the cache, holds the bus, and does four things:
//
//   membership  every peer beats every heartbeat (its reset stamp, version and counters);
//               the members are those heard within the peer timeout, and every owner thread
//               is told the view, from which it hashes each key to its owning process
//   resets      a reset in any thread of this process stamps itself in shared memory; the
//               agent sees the epoch move and announces it, and resolves reset() callers once
//               every live peer has acknowledged it (or the timeout has passed: a peer that
//               did not hear it stops serving by then, see below). A peer's reset, from its
//               announcement or from any beat that carries a later stamp, is taken if it is
//               later than this process's (Lamport order: clock, then origin)
//   requests    between this process's owners and the others' (asks.ts out, relay.ts in)
//   cut-off     heard nothing, not even its own beats, for the peer timeout: the process is
//               degraded — it drops what it stored, serves and stores nothing, and computes
//               for its own callers — until it hears the bus again and has caught up (said
//               hello, and heard the beats that answer it, for two heartbeats)
import { deserialize } from 'node:v8'
import type { MessagePort } from 'node:worker_threads'
import type { Bus, BusMember } from '../bus/bus.js'
import type { AgentToOwner, CallerMessage, OwnerMessage, OwnerToAgent } from '../protocol.js'
import { Shared, compareStamps, later, type SharedState, type Stamp } from '../shared.js'
import { localCounters } from '../stats.js'
import { Asks } from './asks.js'
import type { AgentIO } from './io.js'
import { Members } from './members.js'
import { Relays } from './relay.js'
import { decode, encode, type Outgoing, type PeerMessage } from './wire.js'

export interface AgentOptions {
  readonly name: string
  readonly bus: Bus
  readonly shared: SharedState
  readonly memoryLimit: number
  readonly heartbeat: number
  readonly peerTimeout: number
  readonly onReset: ((version: unknown) => void) | undefined
}

interface Announcement {
  readonly stamp: Stamp
  readonly epoch: number
  readonly waiting: Set<string>
  readonly until: number
}

export class Agent implements AgentIO {
  readonly #options: AgentOptions
  readonly #shared: SharedState
  readonly #self: string
  readonly #members: Members
  readonly #ports: (MessagePort | undefined)[]
  readonly #relays: Relays
  readonly #asks: Asks
  #member: BusMember | undefined
  #timer: NodeJS.Timeout | undefined
  #heard = Date.now()
  #mode: 'live' | 'degraded' | 'catching-up' = 'live'
  #catchUntil = 0
  #announced: Stamp
  #announcement: Announcement | undefined
  #version: Uint8Array
  #closed = false

  constructor(options: AgentOptions) {
    this.#options = options
    this.#shared = options.shared
    this.#self = options.shared.self
    this.#members = new Members(this.#self, options.peerTimeout)
    this.#ports = Array.from({ length: options.shared.owners }, () => undefined)
    this.#relays = new Relays(this, options.shared.owners, options.peerTimeout)
    this.#asks = new Asks(this, options.shared.owners)
    const { stamp, bytes } = options.shared.version()
    this.#announced = stamp
    this.#version = bytes
  }

  /** A new owner instance's port (at start, and after each restart). */
  ownerPort(index: number, port: MessagePort): void {
    this.#ports[index] = port
    port.on('message', (message: OwnerMessage | OwnerToAgent) => this.#fromOwner(index, message))
    port.on('close', () => {
      if (this.#ports[index] !== port) return
      this.#ports[index] = undefined
      this.#relays.forgetOwner(index)
      this.#asks.forgetOwner(index)
    })
    port.unref()
    port.postMessage({ type: 'view', members: this.#members.view() } satisfies AgentToOwner)
  }

  /** Joins the bus and waits two heartbeats for the members to answer its hello. */
  async join(): Promise<void> {
    const { bus, name, heartbeat } = this.#options
    this.#member = await bus.join(name, this.#self, (bytes) => this.#receive(bytes))
    this.#shared.settled(this.#shared.epoch())
    this.#broadcast({ t: 'hello' })
    this.#timer = setInterval(() => this.#tick(), heartbeat)
    this.#timer.unref()
    void this.#watch()
    await new Promise((resolve) => setTimeout(resolve, 2 * heartbeat))
    this.#beat()
  }

  /** Says goodbye, so the peers take this process's keys at once, and leaves the bus. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    this.#broadcast({ t: 'bye' })
    await this.#member?.leave()
  }

  // ---- AgentIO ----

  send(peer: string, message: Outgoing): void {
    this.#member?.send(peer, encode({ ...message, c: this.#options.name, f: this.#self } as PeerMessage))
  }

  post(owner: number, message: CallerMessage | AgentToOwner): boolean {
    const port = this.#ports[owner]
    port?.postMessage(message)
    return port !== undefined
  }

  epoch(): number {
    return this.#shared.epoch()
  }

  stamp(): Stamp {
    return this.#shared.version().stamp
  }

  // ---- the bus ----

  #broadcast(message: Outgoing): void {
    this.#member?.broadcast(encode({ ...message, c: this.#options.name, f: this.#self } as PeerMessage))
  }

  #beat(to?: string): void {
    const { stamp, bytes } = this.#shared.version()
    const beat: Outgoing = { t: 'beat', s: stamp, v: bytes, n: localCounters(this.#shared, this.#options.memoryLimit) }
    if (to === undefined) this.#broadcast(beat)
    else this.send(to, beat)
  }

  #receive(bytes: Uint8Array): void {
    if (this.#closed) return
    const message = decode(bytes, this.#options.name, this.#options.memoryLimit)
    if (typeof message === 'string') return this.#shared.add(Shared.Dropped, 1)
    this.#heard = Date.now()
    if (this.#mode === 'degraded') this.#catchUp()
    const from = message.f
    if (message.t === 'bye') {
      if (this.#members.leave(from)) this.#left([from])
      return
    }
    if (this.#members.heard(from, message.t === 'beat' ? message.n : undefined)) this.#changed()
    switch (message.t) {
      case 'beat':
        this.#publishPeers()
        return void this.#take(message.s, message.v)
      case 'hello':
        if (from !== this.#self) this.#beat(from)
        return
      case 'reset':
        return void this.#take(message.s, message.v).then(() => {
          if (from !== this.#self) this.send(from, { t: 'ack', s: message.s })
        })
      case 'ack': {
        const pending = this.#announcement
        if (pending !== undefined && compareStamps(pending.stamp, message.s) === 0) pending.waiting.delete(from)
        return this.#settle()
      }
    }
    // A request of another reset than this process's is refused: its sender asks again
    // once the two have caught up with each other.
    if (compareStamps(message.s, this.stamp()) !== 0) return this.#shared.add(Shared.Dropped, 1)
    switch (message.t) {
      case 'get':
      case 'put':
      case 'fail':
      case 'drop':
        return this.#relays.request(from, message)
      default:
        return this.#asks.answer(from, message)
    }
  }

  #fromOwner(index: number, message: OwnerMessage | OwnerToAgent): void {
    switch (message.type) {
      case 'rget':
      case 'rput':
      case 'rfail':
      case 'rdrop':
        return this.#asks.fromOwner(index, message)
      default:
        return this.#relays.answer(message)
    }
  }

  // ---- resets ----

  /** Takes a peer's reset if it is later than this process's. */
  async #take(stamp: Stamp, version: Uint8Array): Promise<void> {
    const current = this.#shared.version()
    if (!later(stamp, version, current.stamp, current.bytes)) return
    try {
      this.#shared.settled(await this.#shared.adopt(version, stamp))
    } catch {
      // decode() lets through only what fits; this is the last line, should the two drift.
      this.#shared.add(Shared.Dropped, 1)
    }
  }

  /** Follows the epoch: announces this process's own resets, and tells onReset of each new version. */
  async #watch(): Promise<void> {
    let seen = this.#shared.epoch()
    while (!this.#closed) {
      await this.#shared.epochChange(seen)
      if (this.#closed || this.#shared.closed()) return
      seen = this.#shared.epoch()
      const { epoch, bytes, stamp } = this.#shared.version()
      if (stamp.origin === this.#self && compareStamps(stamp, this.#announced) > 0) this.#announce(stamp, bytes, epoch)
      else this.#shared.settled(epoch)
      if (Buffer.compare(bytes, this.#version) !== 0) {
        this.#version = bytes
        this.#tell(bytes)
      }
    }
  }

  #tell(bytes: Uint8Array): void {
    const { onReset } = this.#options
    if (onReset === undefined) return
    try {
      onReset(deserialize(bytes))
    } catch (error) {
      process.emitWarning(`coop-cache: the onReset callback of cache ${JSON.stringify(this.#options.name)} threw: ${String(error)}`, { code: 'COOP_CACHE_ON_RESET_THREW' })
    }
  }

  #announce(stamp: Stamp, version: Uint8Array, epoch: number): void {
    this.#announced = stamp
    this.#broadcast({ t: 'reset', s: stamp, v: version })
    const { peerTimeout, heartbeat } = this.#options
    // An older announcement still waiting is settled by this one: settled() is monotonic.
    this.#announcement = { stamp, epoch, waiting: new Set(this.#members.others()), until: Date.now() + peerTimeout + heartbeat }
    this.#settle()
  }

  #settle(): void {
    const pending = this.#announcement
    if (pending === undefined || (pending.waiting.size > 0 && Date.now() < pending.until)) return
    this.#announcement = undefined
    this.#shared.settled(pending.epoch)
  }

  // ---- membership and time ----

  #tick(): void {
    const now = Date.now()
    if (this.#mode === 'live' && now - this.#heard > this.#options.peerTimeout) this.#degrade()
    if (this.#mode === 'catching-up' && now >= this.#catchUntil) {
      this.#mode = 'live'
      this.#shared.setDegraded(false)
    }
    const gone = this.#members.expire()
    if (gone.length > 0) this.#left(gone)
    this.#beat()
    this.#asks.renew()
    this.#relays.expire()
    this.#settle()
  }

  #degrade(): void {
    this.#mode = 'degraded'
    this.#shared.setDegraded(true)
    this.#members.clear()
    this.#relays.clear()
    this.#changed()
    void this.#shared.advance()
  }

  #catchUp(): void {
    this.#mode = 'catching-up'
    this.#catchUntil = Date.now() + 2 * this.#options.heartbeat
    this.#broadcast({ t: 'hello' })
  }

  #left(peers: readonly string[]): void {
    for (const peer of peers) {
      this.#relays.forgetPeer(peer)
      this.#announcement?.waiting.delete(peer)
    }
    this.#changed()
    this.#settle()
  }

  /** The members changed: the owners re-hash their keys, and stats see the new count. */
  #changed(): void {
    const members = this.#members.view()
    for (let i = 0; i < this.#ports.length; i++) this.post(i, { type: 'view', members })
    this.#publishPeers()
  }

  #publishPeers(): void {
    this.#shared.setPeers(this.#members.others().length, this.#members.sums())
  }
}
