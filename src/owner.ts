import type { MessagePort } from 'node:worker_threads'
import type { CallerMessage, OwnerData, OwnerMessage, WireError } from './protocol.js'
import { CacheClosedError, toWire } from './errors.js'
import { Flights, type Flight, type Request } from './flight.js'
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
  #epoch: number
  #closed = false

  constructor(data: OwnerData, shared: SharedState) {
    this.#shared = shared
    this.#index = data.index
    this.#computeTimeout = data.computeTimeout
    this.#store = new Store(shared, data.index, data.memoryLimit, data.policy)
    this.#epoch = shared.epoch()
    shared.flushed(this.#index, this.#epoch)
    void this.#followEpoch()
  }

  /** Takes a new caller link. */
  attach(port: MessagePort): void {
    if (this.#closed) return port.close()
    const link = new Link(port)
    this.#links.add(link)
    port.on('message', (message: CallerMessage) => this.#receive(link, message))
    port.on('close', () => this.#lost(link))
    port.unref()
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

  #receive(link: Link, message: CallerMessage): void {
    if (this.#closed || typeof message !== 'object' || message === null) return
    this.#sync()
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

  #get(link: Link, id: number, key: string): void {
    const stored = this.#store.get(key)
    if (stored !== undefined) {
      this.#count(Row.Hits)
      link.sendValue(id, this.#epoch, stored, true, true)
      return
    }
    this.#count(Row.Misses)
    link.open.set(id, key)
    const flight = this.#flights.get(key)
    if (flight !== undefined) {
      this.#count(Row.Coalesced)
      flight.waiters.push({ link, id })
      return
    }
    this.#assign(this.#flights.start(key, { link, id }))
  }

  /** Tells the flight's computer to compute, and watches the clock on it. */
  #assign(flight: Flight<Link>): void {
    this.#count(Row.Computes)
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
    if (flight === undefined) return
    this.#flights.end(flight)
    flight.computer.link.open.delete(flight.computer.id)
    const entry = entryOf(key, value)
    const stored = this.#store.offer(key, entry)
    for (const waiter of flight.waiters) {
      waiter.link.open.delete(waiter.id)
      waiter.link.sendValue(waiter.id, epoch, entry, stored, false)
    }
  }

  #fail(key: string, token: number, epoch: number, error: WireError): void {
    const flight = this.#current(key, token, epoch)
    if (flight === undefined) return
    this.#flights.end(flight)
    this.#count(Row.Failures)
    flight.computer.link.open.delete(flight.computer.id)
    for (const waiter of flight.waiters) {
      waiter.link.open.delete(waiter.id)
      waiter.link.send({ type: 'error', id: waiter.id, error, epoch })
    }
  }

  /** The flight a put or fail is for, or undefined when it is fenced off (token or epoch). */
  #current(key: string, token: number, epoch: number): Flight<Link> | undefined {
    const flight = this.#flights.get(key)
    if (flight === undefined || flight.token !== token || epoch !== this.#epoch) return undefined
    return flight
  }

  /** A caller no longer wants request `id`: if it was computing, the flight passes on. */
  #drop(link: Link, id: number): void {
    const key = link.open.get(id)
    if (key === undefined) return
    link.open.delete(id)
    const flight = this.#flights.get(key)
    if (flight === undefined) return
    this.#leave(flight, { link, id })
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
      const flight = this.#flights.get(key)
      if (flight === undefined) continue
      if (flight.computer.link === link) this.#count(Row.Failures)
      this.#leave(flight, { link, id })
    }
    link.open.clear()
  }

  #count(field: Row): void {
    this.#shared.rowAdd(this.#index, field, 1)
  }
}
