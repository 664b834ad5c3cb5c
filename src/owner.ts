import type { MessagePort } from 'node:worker_threads'
import type { AgentToOwner, CallerMessage, OwnerData, OwnerMessage, OwnerToAgent, WireError } from './protocol.js'
import { CacheClosedError, toWire } from './errors.js'
import { Flights, type Flight, type Request } from './flight.js'
import { Remotes, requestsOf, type Remote } from './remote.js'
import { peerOf } from './ring.js'
import { Store, entryOf, type Entry } from './store.js'
import { Row, type SharedState } from './shared.js'

/** One caller thread's link to this owner, and the requests it has open here. */
class Link {
  readonly port: MessagePort
  /** request id → its key, while the request waits or computes */
  readonly open = new Map<number, string>()

  constructor(port: MessagePort) {
    this.port = port
  }

  send(message: OwnerMessage): void {
    this.port.postMessage(message)
  }

  sendValue(id: number, epoch: number, entry: Entry, stored: boolean, hit: boolean): void {
    const { size } = entry
    this.send(
      entry.bytes === undefined
        ? { type: 'value', id, epoch, value: entry.value, size, stored, hit }
        : { type: 'value', id, epoch, bytes: entry.bytes, size, stored, hit },
    )
  }
}

/**
 * The actor that owns a range of keys: it holds their entries and their flights, and serves
 * the requests for them one at a time. It lives on a worker thread of its own.
 */
export class Owner {
  readonly #shared: SharedState
  readonly #index: number
  readonly #computeTimeout: number
  readonly #store: Store
  readonly #flights = new Flights<Link>()
  readonly #remotes = new Remotes<Link>()
  readonly #links = new Set<Link>()
  /** The link to the peer agent, with a bus: it relays remote peers' requests, and ours. */
  readonly #agent: Link | undefined
  /** The live members of the cluster; empty without a bus. */
  #members: readonly string[] = []
  #epoch: number
  #closed = false

  constructor(data: OwnerData, shared: SharedState) {
    this.#shared = shared
    this.#index = data.index
    this.#computeTimeout = data.computeTimeout
    this.#store = new Store(shared, data.index, data.memoryLimit, data.policy)
    this.#epoch = shared.epoch()
    shared.flushed(this.#index, this.#epoch)
    this.#agent = data.agent === undefined ? undefined : this.attach(data.agent as MessagePort)
    void this.#followEpoch()
  }

  /** Takes a new caller link. */
  attach(port: MessagePort): Link | undefined {
    if (this.#closed) {
      port.close()
      return undefined
    }
    const link = new Link(port)
    this.#links.add(link)
    port.on('message', (message: CallerMessage | AgentToOwner) => this.#receive(link, message))
    port.on('close', () => this.#lost(link))
    port.unref()
    return link
  }

  /** Ends every open request with CacheClosedError and takes no more. */
  close(): void {
    this.#closed = true
    const error = toWire(new CacheClosedError())
    for (const link of this.#links) {
      for (const id of link.open.keys()) link.send({ type: 'error', id, error })
      link.open.clear()
      link.port.close()
    }
    this.#links.clear()
    this.#flights.takeAll()
  }

  // Resets are noticed two ways: eagerly here, so memory is freed and stale computers are
  // told at once; and at every message, so no request is ever served from an older epoch.
  async #followEpoch(): Promise<void> {
    while (!this.#closed) {
      await this.#shared.epochChange(this.#epoch)
      this.#sync()
    }
  }

  #sync(): void {
    const epoch = this.#shared.epoch()
    if (epoch === this.#epoch) return
    this.#epoch = epoch
    const stale = this.#flights.takeAll()
    const remote = this.#remotes.all()
    this.#store.clear()
    this.#shared.flushed(this.#index, epoch)
    for (const flight of remote) this.#reroute(flight)
    // A computation that straddles the reset is never used: its computer is told, and it and
    // its waiters ask again in the new epoch, where one of them computes afresh.
    for (const flight of stale) {
      const { computer } = flight
      computer.link.send({ type: 'abort', id: computer.id, token: flight.token, reason: 'reset' })
      for (const request of [computer, ...flight.waiters]) {
        if (this.#links.has(request.link)) this.#get(request.link, request.id, flight.key)
      }
    }
  }

  #receive(link: Link, message: CallerMessage | AgentToOwner): void {
    if (this.#closed || typeof message !== 'object' || message === null) return
    this.#sync()
    if (link === this.#agent) this.#fromAgent(message as AgentToOwner)
    switch (message.type) {
      case 'get':
        if (typeof message.id === 'number' && typeof message.key === 'string') this.#get(link, message.id, message.key)
        return
      case 'put':
        if (message.value instanceof Uint8Array) this.#put(message.key, message.token, message.epoch, message.value)
        return
      case 'fail':
        this.#fail(message.key, message.token, message.epoch, message.error)
        return
      case 'drop':
        this.#drop(link, message.id)
        return
      case 'ping':
        link.send({ type: 'pong', id: message.id })
        return
    }
  }

  // A request relayed from a remote peer is served here whatever this process thinks the
  // key's owner is: it was sent here because its sender thinks so, and forwarding it again
  // could chase a key around processes whose views of the members differ. It is not counted
  // as a call: its process counts it.
  #get(link: Link, id: number, key: string): void {
    const relayed = link === this.#agent
    const stored = this.#shared.degraded() ? undefined : this.#store.get(key)
    if (stored !== undefined) {
      if (!relayed) this.#count(Row.Hits)
      link.sendValue(id, this.#epoch, stored, true, true)
      return
    }
    if (!relayed) this.#count(Row.Misses)
    link.open.set(id, key)
    const request = { link, id }
    const flight = this.#flights.get(key)
    const remote = relayed ? undefined : this.#remotes.get(key)
    if (flight !== undefined || remote !== undefined) {
      if (!relayed) this.#count(Row.Coalesced)
      ;(flight ?? (remote as Remote<Link>)).waiters.push(request)
      return
    }
    const peer = relayed || this.#members.length < 2 ? undefined : peerOf(key, this.#members)
    if (peer !== undefined && peer !== this.#shared.self) {
      const started = this.#remotes.start(key, peer, request)
      this.#toAgent({ type: 'rget', rid: started.rid, key, peer, epoch: this.#epoch })
      return
    }
    this.#assign(this.#flights.start(key, request))
  }

  /** Tells the flight's computer to compute, and watches the clock on it. */
  #assign(flight: Flight<Link>): void {
    // A remote peer's computation is counted by that peer.
    if (flight.computer.link !== this.#agent) this.#count(Row.Computes)
    const { computer, token } = flight
    computer.link.send({ type: 'compute', id: computer.id, epoch: this.#epoch, token })
    if (this.#computeTimeout > 0) {
      flight.timer = setTimeout(() => this.#timeout(flight, token), this.#computeTimeout)
    }
  }

  #timeout(flight: Flight<Link>, token: number): void {
    if (flight.token !== token || this.#flights.get(flight.key) !== flight) return
    const { computer } = flight
    computer.link.open.delete(computer.id)
    computer.link.send({ type: 'abort', id: computer.id, token, reason: 'timeout' })
    this.#count(Row.Failures)
    this.#handOver(flight)
  }

  /** The flight passes to its next waiter whose thread is still linked, or ends. */
  #handOver(flight: Flight<Link>): void {
    while (this.#flights.promote(flight)) {
      if (this.#links.has(flight.computer.link)) return this.#assign(flight)
    }
  }

  #put(key: string, token: number, epoch: number, value: Uint8Array): void {
    const flight = this.#current(key, token, epoch) ?? this.#remoteComputing(key, token, epoch)
    if (flight === undefined) return
    flight.computer?.link.open.delete(flight.computer.id)
    this.#deliver(key, flight.waiters, value, false)
    if ('rid' in flight) this.#toAgent({ type: 'rput', rid: flight.rid, key, token: flight.remoteToken, epoch, value })
  }

  /** Serves `requests` a value of the current epoch, and stores it if it fits. */
  #deliver(key: string, requests: readonly Request<Link>[], value: Uint8Array, hit: boolean): void {
    const entry = entryOf(key, value)
    const stored = !this.#shared.degraded() && this.#store.offer(key, entry)
    for (const request of requests) {
      request.link.open.delete(request.id)
      request.link.sendValue(request.id, this.#epoch, entry, stored, hit)
    }
  }

  #fail(key: string, token: number, epoch: number, error: WireError): void {
    const flight = this.#current(key, token, epoch) ?? this.#remoteComputing(key, token, epoch)
    if (flight === undefined) return
    this.#count(Row.Failures)
    flight.computer?.link.open.delete(flight.computer.id)
    this.#refuse(flight.waiters, error, epoch)
    if ('rid' in flight) this.#toAgent({ type: 'rfail', rid: flight.rid, key, token: flight.remoteToken, epoch, error })
  }

  #refuse(requests: readonly Request<Link>[], error: WireError, epoch: number): void {
    for (const request of requests) {
      request.link.open.delete(request.id)
      request.link.send({ type: 'error', id: request.id, error, epoch })
    }
  }

  /** The flight a put or fail is for, ended; undefined when it is fenced off (token or epoch). */
  #current(key: string, token: number, epoch: number): Flight<Link> | undefined {
    const flight = this.#flights.get(key)
    if (flight === undefined || flight.token !== token || epoch !== this.#epoch) return undefined
    this.#flights.end(flight)
    return flight
  }

  /** The remote flight a put or fail is for, ended; undefined when fenced off. */
  #remoteComputing(key: string, token: number, epoch: number): Remote<Link> | undefined {
    const remote = this.#remotes.get(key)
    if (remote?.computer === undefined || remote.localToken !== token || epoch !== this.#epoch) return undefined
    this.#remotes.end(remote)
    return remote
  }

  /** A caller no longer wants request `id`: if it was computing, the flight passes on. */
  #drop(link: Link, id: number): void {
    const key = link.open.get(id)
    if (key === undefined) return
    link.open.delete(id)
    this.#leaveAny(key, { link, id })
  }

  /** The request leaves whichever flight of `key` it is in; whether it was a computer. */
  #leaveAny(key: string, request: Request<Link>): boolean {
    const flight = this.#flights.get(key)
    const remote = this.#remotes.get(key)
    const computing = (flight ?? remote)?.computer
    const was = computing?.link === request.link && computing.id === request.id
    if (flight !== undefined) this.#leave(flight, request)
    else if (remote !== undefined) this.#leaveRemote(remote, request)
    return was
  }

  #leave(flight: Flight<Link>, request: Request<Link>): void {
    if (flight.computer.link === request.link && flight.computer.id === request.id) return this.#handOver(flight)
    const at = flight.waiters.findIndex((w) => w.link === request.link && w.id === request.id)
    if (at >= 0) flight.waiters.splice(at, 1)
  }

  /** A caller's thread ended (or closed its link): its computations pass to waiters. */
  #lost(link: Link): void {
    if (!this.#links.delete(link)) return
    for (const [id, key] of link.open) {
      if (this.#leaveAny(key, { link, id })) this.#count(Row.Failures)
    }
    link.open.clear()
  }

  // ---- remote flights: this process's callers, for keys another process owns ----

  #fromAgent(message: AgentToOwner): void {
    if (message.type === 'view') return this.#view(message.members)
    if (!('rid' in message)) return
    const remote = this.#remotes.byRid(message.rid)
    if (remote === undefined) {
      // An answer for a remote flight that has ended here: if it hands us a computation, give it back.
      if (message.type === 'rcompute') this.#toAgent({ type: 'rdrop', rid: message.rid })
      return
    }
    switch (message.type) {
      case 'rvalue': {
        if (message.epoch !== this.#epoch) return
        this.#remotes.end(remote)
        const requests = requestsOf(remote)
        if (message.hit) {
          this.#shared.rowAdd(this.#index, Row.Hits, requests.length)
          this.#shared.rowAdd(this.#index, Row.Misses, -requests.length)
        }
        return this.#deliver(remote.key, requests, message.value, message.hit)
      }
      case 'rerror':
        if (message.epoch !== this.#epoch) return
        this.#remotes.end(remote)
        return this.#refuse(requestsOf(remote), message.error, message.epoch)
      case 'rcompute':
        if (message.epoch !== this.#epoch) return
        remote.remoteToken = message.token
        if (remote.computer === undefined) this.#assignRemote(remote)
        return
      case 'rabort': {
        // The remote owner ran out of patience with our computer: that call ends with a
        // timeout, as a local one would; the others ask again.
        const { computer } = remote
        if (computer === undefined || message.token !== remote.remoteToken) return
        computer.link.open.delete(computer.id)
        computer.link.send({ type: 'abort', id: computer.id, token: remote.localToken, reason: 'timeout' })
        remote.computer = undefined
        return this.#reroute(remote)
      }
    }
  }

  /** The members changed: remote flights whose key now belongs elsewhere ask again there. */
  #view(members: readonly string[]): void {
    this.#members = members
    for (const remote of this.#remotes.all()) {
      if (members.length < 2 || peerOf(remote.key, members) !== remote.peer) this.#reroute(remote)
    }
  }

  /**
   * Ends a remote flight and places its requests again, as after a reset: its computer (if
   * any) is told its work no longer counts, and every request is asked again.
   */
  #reroute(remote: Remote<Link>): void {
    this.#remotes.end(remote)
    this.#toAgent({ type: 'rdrop', rid: remote.rid })
    const { computer } = remote
    if (computer !== undefined) computer.link.send({ type: 'abort', id: computer.id, token: remote.localToken, reason: 'reset' })
    for (const request of requestsOf(remote)) {
      if (this.#links.has(request.link)) this.#get(request.link, request.id, remote.key)
    }
  }

  /** The remote owner picked this process to compute: one of our callers does. */
  #assignRemote(remote: Remote<Link>): void {
    for (let next = remote.waiters.shift(); next !== undefined; next = remote.waiters.shift()) {
      if (!this.#links.has(next.link)) continue
      remote.computer = next
      remote.localToken = this.#flights.nextToken()
      this.#count(Row.Computes)
      next.link.send({ type: 'compute', id: next.id, epoch: this.#epoch, token: remote.localToken })
      return
    }
    remote.computer = undefined
    this.#remotes.end(remote)
    this.#toAgent({ type: 'rdrop', rid: remote.rid })
  }

  #leaveRemote(remote: Remote<Link>, request: Request<Link>): void {
    const { computer } = remote
    if (computer?.link === request.link && computer.id === request.id) return this.#assignRemote(remote)
    const at = remote.waiters.findIndex((w) => w.link === request.link && w.id === request.id)
    if (at >= 0) remote.waiters.splice(at, 1)
    if (remote.computer === undefined && remote.waiters.length === 0) {
      this.#remotes.end(remote)
      this.#toAgent({ type: 'rdrop', rid: remote.rid })
    }
  }

  #toAgent(message: OwnerToAgent): void {
    this.#agent?.port.postMessage(message)
  }

  #count(field: Row): void {
    this.#shared.rowAdd(this.#index, field, 1)
  }
}
