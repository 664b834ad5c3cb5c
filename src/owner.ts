import type { MessagePort } from 'node:worker_threads'
import type { AgentToOwner, CallerMessage, OwnerData, OwnerMessage, WireError } from './protocol.js'
import { CacheClosedError, toWire } from './errors.js'
import { Flights, type Flight, type Request } from './flight.js'
import { RemoteFlights } from './remote.js'
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
  readonly #links = new Set<Link>()
  readonly #remotes: RemoteFlights<Link>
  /** The link to the peer agent, with a bus: it relays remote peers' requests, and ours. */
  readonly #agent: Link | undefined
  #epoch: number
  #closed = false

  constructor(data: OwnerData, shared: SharedState) {
    this.#shared = shared
    this.#index = data.index
    this.#computeTimeout = data.computeTimeout
    this.#store = new Store(shared, data.index, data.memoryLimit, data.policy)
    this.#epoch = shared.epoch()
    shared.flushed(this.#index, this.#epoch)
    this.#remotes = new RemoteFlights<Link>({
      epoch: () => this.#epoch,
      linked: (link) => this.#links.has(link),
      send: (link, message) => link.send(message),
      close: ({ link, id }) => link.open.delete(id),
      place: ({ link, id }, key) => this.#get(link, id, key),
      deliver: (key, requests, value, hit) => this.#deliver(key, requests, value, hit),
      refuse: (requests, error, epoch) => this.#refuse(requests, error, epoch),
      count: (field, n) => this.#shared.rowAdd(this.#index, field, n),
      nextToken: () => this.#flights.nextToken(),
      toAgent: (message) => this.#agent?.port.postMessage(message),
    })
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
    this.#store.clear()
    this.#shared.flushed(this.#index, epoch)
    this.#remotes.rerouteAll()
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
    if (link === this.#agent && !isCallerMessage(message)) return this.#remotes.receive(message)
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
      ;(flight ?? remote)?.waiters.push(request)
      return
    }
    const peer = relayed ? undefined : this.#remotes.elsewhere(key, this.#shared.self)
    if (peer !== undefined) return this.#remotes.start(key, peer, request)
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
    const flight = this.#current(key, token, epoch)
    if (flight === undefined) return void this.#remotes.put(key, token, epoch, value)
    flight.computer.link.open.delete(flight.computer.id)
    this.#deliver(key, flight.waiters, value, false)
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
    const flight = this.#current(key, token, epoch)
    if (flight === undefined) return void this.#remotes.fail(key, token, epoch, error)
    this.#count(Row.Failures)
    flight.computer.link.open.delete(flight.computer.id)
    this.#refuse(flight.waiters, error, epoch)
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
    if (flight === undefined) return this.#remotes.leave(key, request)
    const was = flight.computer.link === request.link && flight.computer.id === request.id
    this.#leave(flight, request)
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

  #count(field: Row): void {
    this.#shared.rowAdd(this.#index, field, 1)
  }
}

const callerTypes = new Set(['get', 'put', 'fail', 'drop', 'ping'])
function isCallerMessage(message: CallerMessage | AgentToOwner): message is CallerMessage {
  return callerTypes.has(message.type)
}
