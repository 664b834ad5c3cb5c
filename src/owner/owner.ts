import type { MessagePort } from 'node:worker_threads'
import { NO_HANDOUT, type AgentToOwner, type GiveMessage, type HandedEntry, type Handout, type KeyChange, type Lifetime, type Owned, type OwnerData, type OwnerToAgent, type PutMessage, type ReplicaMessage, type RequesterMessage, type ViewMessage, type WireError } from '../shared/protocol.js'
import { CacheClosedError, CachePartitionedError, toWire } from '../shared/errors.js'
import { prefixStart, showKey } from '../shared/key.js'
import { monotonic } from '../shared/clock.js'
import { Counter, Row } from '../shared/memory/layout.js'
import type { Shared } from '../shared/memory/shared.js'
import type { Fence } from '../shared/memory/fences.js'
import { keepersOf, peerOf, selects } from '../shared/ring.js'
import { Flights, requestsOf, type Flight } from './flights.js'
import { Requester, type Request } from './requester.js'
import { HIT, REFRESH, REMOTE, STALE, STORED } from '../shared/answer-bits.js'
import { FOREVER, freshness } from '../shared/lifetime.js'
import { Store, bytesOf, type Entry } from './store.js'
import { OwnerEvents } from '../events/forward.js'
import { each } from '../shared/outbox.js'

/** The longest a failed refresh of a stale value holds off the next. */
const RETRY_MS = 1000
/**
 * A part of the entries handed out (see entries) ends past this many bytes of values, or this
 * many entries: what the part takes in memory, here and in the creating thread, while a process
 * joins or leaves, whatever the store holds. And past this many keys looked at: the calls this
 * thread answers wait for no more than that, though few keys of a large store be handed out.
 */
const PART_BYTES = 1 << 20
const PART_ENTRIES = 4096
const PART_LOOKED_AT = 16_384
/** Entries handed out at once, at most: an unfinished one beyond is dropped. */
const HANDOUTS_KEPT = 8

/** How a flight's value came: what #deliver needs beyond its entry. */
interface Delivery {
  readonly hit: boolean
  readonly remote: boolean
  readonly store: boolean
  readonly stale: boolean
}

/**
 * The actor that owns a range of keys: it holds their entries and their flights, and serves the
 * requests for them one at a time. It lives on a worker thread of its own. See flights.ts for
 * the flight model; every request enters by `#place` and leaves by `#close` or `#leave`.
 */
export class Owner {
  readonly #shared: Shared
  readonly #data: OwnerData
  readonly #index: number
  readonly #store: Store
  readonly #events: OwnerEvents
  readonly #flights = new Flights()
  readonly #links = new Set<Requester>()
  /** The link to the peer agent, with a bus: it relays other processes' requests, and carries ours. */
  readonly #agent: Requester | undefined
  /** The live members of the cluster, the epoch in which this process joined it, and who has handed it its keys' values (see ViewMessage). */
  #members: readonly string[] = []
  #joined = 0
  #earlier: readonly string[] = []
  #handed: readonly string[] = []
  /** Entries being handed out, a part at a time (see entries). */
  readonly #handouts = new Map<number, { readonly entries: Iterator<HandedEntry | undefined>; readonly moves: (key: string, fetched: boolean) => boolean }>()
  #handoutId = 0
  /** Peers that beat but left a request unanswered past peerTimeout, until when their keys are computed here. */
  readonly #silent = new Map<string, number>()
  #serving: boolean
  #epoch: number
  #closed = false

  constructor(data: OwnerData, shared: Shared) {
    this.#shared = shared
    this.#data = data
    this.#index = data.index
    this.#events = new OwnerEvents(shared.memory)
    this.#store = new Store(shared.budget, shared.counters, data.index, data.memoryLimit, data.policy, (kind, key, bytes) => this.#events.send(kind, key, bytes))
    this.#epoch = shared.epochs.epoch()
    this.#serving = shared.liveness.serving()
    shared.owners.flushed(this.#index, this.#epoch)
    this.#agent = data.agent === undefined ? undefined : this.attach(data.agent as MessagePort, true)
    void this.#followEpoch()
    if (shared.memory.clustered) setInterval(() => this.#followLiveness(), Math.max(10, Math.floor(data.peerTimeout / 8))).unref()
  }

  /** Takes a new link: a caller thread's, or the agent's. */
  attach(port: MessagePort, relayed = false): Requester | undefined {
    if (this.#closed) {
      port.close()
      return undefined
    }
    const link = new Requester(port, relayed)
    this.#links.add(link)
    port.on('message', (received: RequesterMessage | AgentToOwner | (RequesterMessage | AgentToOwner)[]) => each(received, (message) => this.#receive(link, message)))
    port.on('close', () => this.#lost(link))
    port.unref()
    return link
  }

  /** Ends every open request with CacheClosedError and takes no more. */
  close(): void {
    this.#closed = true
    this.#events.close()
    const error = toWire(new CacheClosedError())
    for (const link of this.#links) {
      for (const request of link.open.values()) link.send({ type: 'error', id: request.id, key: request.key, error })
      link.open.clear()
      link.flush()
      link.port.close()
    }
    this.#links.clear()
    for (const flight of this.#flights.all()) this.#flights.end(flight)
  }

  /** A part of the entries of `epoch` (none if the owner has moved on) of the keys `owned` selects: see OwnerControl.entries. */
  async entries(epoch: number, ms: number, owned: Owned, from: number): Promise<Handout> {
    let handout = this.#handouts.get(from)
    if (handout === undefined) {
      const until = monotonic() + ms
      while (!this.#closed && this.#flights.all().length > 0 && monotonic() < until) await new Promise((resolve) => setTimeout(resolve, 10))
      const moves = selects(owned)
      handout = { entries: this.#store.handed(moves), moves }
      from = ++this.#handoutId
      // One left unfinished (its peer left, say) is let go of with the next ones.
      for (const id of [...this.#handouts.keys()].slice(0, -HANDOUTS_KEPT)) this.#handouts.delete(id)
    }
    this.#handouts.delete(from)
    this.#sync()
    if (epoch !== this.#epoch) return NO_HANDOUT
    const entries: HandedEntry[] = []
    let bytes = 0
    let looked = 0
    for (let next = handout.entries.next(); !next.done; next = handout.entries.next()) {
      if (next.value !== undefined) {
        entries.push(next.value)
        bytes += next.value.value.byteLength
      }
      if (bytes < PART_BYTES && entries.length < PART_ENTRIES && ++looked < PART_LOOKED_AT) continue
      this.#handouts.set(from, handout)
      return { entries, open: [], next: from }
    }
    const { moves } = handout
    return { entries, open: this.#flights.all().filter((flight) => flight.kind === 'here' && moves(flight.key, false)).map((flight) => flight.key), next: 0 }
  }

  /** A change of keys, this process's or a peer's, from the creating thread (see OwnerControl.change). */
  change(change: KeyChange, epoch: number): boolean {
    if (this.#closed) return false
    this.#sync()
    if (change.type === 'invalidate') return this.#invalidate(change.key, change.prefix, change.again)
    this.#set(change.key, epoch, change.value, change.buffers, change.life)
    return true
  }

  // Resets are noticed two ways: eagerly here, so memory is freed and stale computers are told
  // at once; and at every message, so no request is ever served from an older epoch.
  async #followEpoch(): Promise<void> {
    while (!this.#closed) {
      await this.#shared.epochs.change(this.#epoch)
      this.#sync()
    }
  }

  #sync(): void {
    const epoch = this.#shared.epochs.epoch()
    if (epoch === this.#epoch) return
    this.#epoch = epoch
    const stale = this.#flights.all()
    for (const flight of stale) this.#end(flight)
    this.#store.clear()
    // Every thread's near copies are of an older epoch now: a thread that had no room for copies
    // has room again (it would say so itself only at its next call).
    for (const link of this.#links) if (link.nearSlot >= 0) link.offers = true
    this.#shared.owners.flushed(this.#index, epoch)
    // A computation that straddles the reset is never used: its computer is told, and it and
    // its waiters are placed again in the new epoch, where one of them computes afresh.
    for (const flight of stale) this.#requeue(flight)
  }

  // When this process stops being allowed to serve (its agent has not heard the bus in time),
  // flights that wait on another process are computed here instead, uncached: what the agent
  // cannot carry would otherwise keep their callers waiting.
  #followLiveness(): void {
    const serving = this.#shared.liveness.serving()
    if (serving === this.#serving) return
    this.#serving = serving
    if (!serving) for (const flight of this.#flights.waitingUpstream()) this.#reroute(flight)
  }

  #receive(link: Requester, message: RequesterMessage | AgentToOwner): void {
    if (this.#closed || typeof message !== 'object' || message === null) return
    this.#sync()
    switch (message.type) {
      case 'get':
        if (link.open.has(message.id)) return this.#count(Counter.Dropped)
        return this.#place({
          from: link,
          id: message.id,
          key: message.key,
          peek: message.peek === true,
          look: message.look === true,
          refresh: message.refresh === true,
          flight: undefined,
        })
      case 'put':
        return this.#put(link, message)
      case 'fail':
        return this.#fail(link, message.id, message.key, message.token, message.epoch, message.error)
      case 'drop': {
        const request = this.#request(link, message.id, message.key)
        if (request !== undefined) this.#leave(request)
        return
      }
      case 'ping':
        return link.send({ type: 'pong', id: message.id })
      case 'hello':
        link.nearSlot = message.nearSlot
        link.nearToken = message.nearToken
        link.offers = message.offers
        return
      case 'give':
        if (link === this.#agent) this.#take(message)
        return
    }
    if (link !== this.#agent) return
    if (message.type === 'replica') return this.#replica(message)
    if (message.type === 'view') return this.#view(message)
    // An answer for a flight that has ended here is late, and harmless; one for another key is not.
    const flight = this.#flights.upstream(message.rid)
    if (flight === undefined) return
    if (flight.key !== message.key) return this.#count(Counter.Dropped)
    // The agent has closed the upstream request on a final answer (a value, an error, an abort,
    // none): an answer that cannot end the flight as it stands (of another epoch, a lie, late)
    // makes it ask again, so that no flight waits on a request nobody holds any more.
    switch (message.type) {
      case 'up-value':
        if (message.epoch !== this.#epoch) return this.#reroute(flight)
        if (message.hit) this.#countHitsOf(flight)
        return this.#deliver(flight, this.#store.fromBytes(flight.key, message.value, message.buffers, message.life, monotonic(), message.stale, true), { hit: message.hit, remote: true, store: true, stale: message.stale })
      case 'up-compute': {
        if (message.epoch !== this.#epoch || flight.kind !== 'remote' || flight.upstream === undefined) return
        flight.upstream.token = message.token
        if (flight.computer === undefined) this.#handOver(flight)
        return
      }
      case 'up-abort': {
        // The upstream ran out of patience with our computer: that call ends with a timeout, as
        // a local one would; the others ask again. Fenced (the key was invalidated or set
        // there): the computation no longer counts, and every request asks again.
        const { computer } = flight
        if (!message.fenced && computer !== undefined && message.token === flight.upstream?.token) this.#timedOut(flight, computer)
        return this.#reroute(flight)
      }
      case 'up-error':
        if (message.epoch !== this.#epoch) return this.#reroute(flight)
        return this.#refuse(flight, message.error, message.epoch)
      case 'up-none': {
        // The previous owner holds nothing: the next earlier member is asked, and once none of
        // them holds the key, this process computes it itself.
        if (message.epoch !== this.#epoch || flight.kind !== 'here') return this.#reroute(flight)
        const asked = this.#flights.unask(flight)
        if (asked !== undefined) flight.emptyHanded.push(asked.peer)
        const next = this.#previousOwner(flight.key, flight.emptyHanded)
        return next === undefined ? this.#handOver(flight) : this.#ask(flight, next, true, false)
      }
      case 'up-lost':
        this.#silent.set(flight.upstream?.peer ?? '', monotonic() + this.#data.peerTimeout)
        return this.#reroute(flight)
    }
  }

  /** A value handed over by a process that left, or that held it before this one joined: kept, unless the key has one, or a flight, here. */
  #take({ key, epoch, value, buffers, life, fence }: GiveMessage): void {
    if (epoch !== this.#epoch || !this.#shared.liveness.serving() || !this.#shared.fences.holds(fence)) return
    if (this.#store.get(key) !== undefined || this.#flights.find(key, true) !== undefined) return
    this.#store.offer(key, this.#store.fromBytes(key, value, buffers, life, monotonic()))
  }

  /**
   * A copy of a value its owner stored in another process (see ReplicaMessage): kept as a
   * fetched value, replacing only another fetched one, unless the key was invalidated or set
   * here since the copy reached the agent (its fence moved), or the epoch moved on.
   */
  #replica({ key, epoch, fence, value, buffers, life }: ReplicaMessage): void {
    if (epoch !== this.#epoch || !this.#shared.liveness.serving() || !this.#shared.fences.holds(fence)) return
    if (this.#store.get(key)?.fetched === false) return
    const entry = this.#store.fromBytes(key, value, buffers, life, monotonic(), false, true)
    if (this.#store.offer(key, entry)) this.#seed(key, entry)
  }

  /**
   * Offers a copy that came from another process to the threads of this one that keep near
   * copies and have room for more (CopyMessage): with every process holding every value, as in
   * CoopCache, the first call for it here is then served in the calling thread, not by a message
   * to this owner. Only values held as themselves, which a thread takes without deserializing.
   */
  #seed(key: string, entry: Entry, answered: readonly Request[] = []): void {
    if (entry.bytes !== undefined) return
    let fence: Fence | undefined
    for (const link of this.#links) {
      if (!link.offers || answered.some((request) => request.from === link)) continue
      fence ??= this.#shared.fences.read(this.#shared.fences.slotOf(key))
      link.sendCopy(key, this.#epoch, entry, fence)
    }
  }

  /**
   * Drops `key`'s value (or every value under the array key `key`) and fences their flights as
   * a reset does: a computation under way no longer counts, and its requests are placed again,
   * so that a new computation serves them. A single key's fence moves here, before anything is
   * placed again, so that every value of it sent before is refused where it lands; a prefix's
   * moves once every owner is done (host/create.ts).
   *
   * The second round of a change (`again`) clears only what this process may have fetched from
   * a peer that had not yet carried out the first: values that came from another process, and
   * flights that wait on one with nothing computing here; and moves the fence only if it
   * cleared something. What the first round placed again began after the change, and counts:
   * fencing it again would compute the key twice. Says whether it dropped or fenced anything.
   */
  #invalidate(key: string, prefix: boolean, again: boolean): boolean {
    const start = prefix ? prefixStart(key) : undefined
    const under = (k: string) => k === key || (start !== undefined && k.startsWith(start))
    let changed = false
    for (const k of start === undefined ? [key] : [key, ...this.#store.keysUnder(start)]) {
      const entry = this.#store.get(k)
      if (entry === undefined || (again && !entry.fetched)) continue
      this.#store.delete(k)
      changed = true
    }
    const stale = this.#flights.all().filter((f) => under(f.key) && (!again || (f.upstream !== undefined && f.computer === undefined)))
    if (start === undefined && (changed || stale.length > 0 || !again)) this.#shared.fences.moveKey(key)
    for (const flight of stale) this.#reroute(flight)
    return changed || stale.length > 0
  }

  /** Stores a value for `key` as if computed in `epoch`; its flights end with it (their computations no longer count). */
  #set(key: string, epoch: number, value: Uint8Array, buffers: boolean, life: Lifetime): void {
    this.#store.delete(key)
    this.#shared.fences.moveKey(key)
    if (epoch !== this.#epoch || !(value instanceof Uint8Array)) return
    const entry = this.#store.fromBytes(key, value, buffers, life, monotonic())
    const stored = this.#shared.liveness.serving() && this.#store.offer(key, entry)
    for (const flight of this.#flights.all()) {
      if (flight.key !== key) continue
      this.#end(flight)
      this.#answer(flight, entry, stored ? STORED : 0)
    }
  }

  /** The open request `id` of `link`, if it is for `key`; a request for another key is dropped and counted. */
  #request(link: Requester, id: number, key: string): Request | undefined {
    const request = link.open.get(id)
    if (request !== undefined && request.key !== key) {
      this.#count(Counter.Dropped)
      return undefined
    }
    return request
  }

  // A request relayed from another process is served here whatever this process thinks the
  // key's owner is: it was sent here because its sender thinks so, and forwarding it again could
  // chase a key around processes whose views of the members differ. It is not counted as a
  // call: its own process counts it.
  #place(request: Request): void {
    const { key, from } = request
    const serving = this.#shared.liveness.serving()
    const counted = !from.relayed && !request.refresh && !request.look
    from.open.set(request.id, request)
    const stored = serving ? this.#store.get(key) : undefined
    if (stored !== undefined) {
      const now = stored.expires === 0 ? 0 : monotonic()
      const state = freshness(stored, now)
      // A stale value is served to calls only: a refresh, a peek() and a newcomer's fetch from
      // the previous owner (peek) want one that has not expired.
      if (state === 'fresh' || (state === 'stale' && !request.refresh && !request.look && !request.peek)) {
        if (counted) this.#countRow(Row.Hits)
        this.#close(request)
        const stale = state === 'stale'
        // Stale: served at once; the caller refreshes it in the background, unless a refresh is
        // under way, or failed a moment ago. Another process's request is served the same, and
        // that process refreshes it for its own callers.
        const refresh = stale && !from.relayed && this.#flights.find(key, false) === undefined && now >= stored.retryAt
        return this.#send(request, stored, STORED | HIT | (stale ? STALE : 0) | (refresh ? REFRESH : 0))
      }
      if (state === 'gone') this.#store.delete(key)
    }
    if (request.look) {
      this.#close(request)
      return from.send({ type: 'none', id: request.id, key })
    }
    if (!serving && this.#data.partition === 'reject' && !request.peek) {
      this.#close(request)
      return from.send({ type: 'error', id: request.id, key, error: toWire(new CachePartitionedError(showKey(key), this.#data.peerTimeout)) })
    }
    if (counted) this.#countRow(Row.Misses)
    const joined = this.#flights.find(key, from.relayed)
    if (joined !== undefined) {
      if (counted) this.#countRow(Row.Coalesced)
      request.flight = joined
      joined.waiters.push(request)
      return
    }
    if (request.peek) {
      this.#close(request)
      return from.send({ type: 'none', id: request.id, key })
    }
    const owner = serving && !from.relayed ? this.#ownerOf(key) : undefined
    if (owner !== undefined && owner !== this.#self && !this.#isSilent(owner)) return this.#startRemote(request, owner, request.refresh)
    const flight = this.#flights.start('here', key, !serving || owner !== undefined && owner !== this.#self)
    request.flight = flight
    const previous = serving ? this.#previousOwner(key) : undefined
    if (previous !== undefined) {
      flight.waiters.push(request)
      return this.#ask(flight, previous, true, false)
    }
    flight.computer = request
    this.#assign(flight)
  }

  get #self(): string {
    return this.#shared.memory.self
  }

  /** Whether this process keeps copies of `key`'s values (as the agent sends them: agent.ts #replicate). */
  #keeps(key: string): boolean {
    const keepers = keepersOf(key, this.#members, this.#data.replicas)
    return keepers === 'all' || keepers.includes(this.#self)
  }

  /** The process that owns `key`; undefined without other members. */
  #ownerOf(key: string): string | undefined {
    return this.#members.length < 2 ? undefined : peerOf(key, this.#members)
  }

  /**
   * For a process that joined a running cluster, until its next reset: the owner `key` had before
   * it joined, among the members it found then (ViewMessage.earlier) that have not handed this
   * process the values of its keys (see Agent#welcome), nor said they hold none of this one
   * (`emptyHanded`). The first asked may not hold the value though another does: it joined a
   * moment before this process, and the key's owner before it has not handed it over yet (nor
   * will: the key is no longer that one's). So each is asked in turn, in their order for the key.
   */
  #previousOwner(key: string, emptyHanded: readonly string[] = []): string | undefined {
    if (this.#joined !== this.#epoch || this.#ownerOf(key) !== this.#self) return undefined
    const asked = this.#earlier.filter((m) => !this.#handed.includes(m) && !emptyHanded.includes(m))
    return asked.length === 0 ? undefined : peerOf(key, asked)
  }

  #isSilent(peer: string): boolean {
    const until = this.#silent.get(peer)
    if (until === undefined) return false
    if (until > monotonic()) return true
    this.#silent.delete(peer)
    return false
  }

  #startRemote(request: Request, peer: string, refresh: boolean): void {
    const flight = this.#flights.start('remote', request.key, false)
    request.flight = flight
    flight.waiters.push(request)
    this.#ask(flight, peer, false, refresh)
  }

  #ask(flight: Flight, peer: string, peek: boolean, refresh: boolean): void {
    const { rid } = this.#flights.ask(flight, peer, peek)
    this.#toAgent({ type: 'up-get', rid, key: flight.key, peer, epoch: this.#epoch, peek, refresh })
  }

  /** Tells the flight's computer to compute, and watches the clock on it. */
  #assign(flight: Flight): void {
    const computer = flight.computer as Request
    const token = this.#flights.fence(flight)
    const { fences } = this.#shared
    computer.from.send({ type: 'compute', id: computer.id, key: flight.key, epoch: this.#epoch, token, fence: fences.read(fences.slotOf(flight.key)) })
    const { computeTimeout } = this.#data
    if (computeTimeout > 0) flight.timer = setTimeout(() => this.#timeout(flight, token), computeTimeout)
  }

  #timeout(flight: Flight, token: number): void {
    const computer = flight.computer
    if (computer === undefined || flight.token !== token) return
    this.#timedOut(flight, computer)
    this.#handOver(flight)
  }

  /** The computer ran past its time: its request ends with a timeout; the flight has no computer. */
  #timedOut(flight: Flight, computer: Request): void {
    flight.computer = undefined
    this.#close(computer)
    computer.from.send({ type: 'abort', id: computer.id, key: flight.key, token: flight.token, reason: 'timeout' })
    this.#count(Counter.Failures)
  }

  /**
   * The flight's computer is gone: the flight passes to its next waiter that can compute (whose
   * link is up; not a peek; for a remote flight, a caller of this process), or ends.
   */
  #handOver(flight: Flight): void {
    flight.computer = undefined
    const waiting = flight.upstream !== undefined && (flight.kind === 'here' || flight.upstream.token === 0)
    if (!waiting) {
      const at = flight.waiters.findIndex((w) => !w.peek && this.#links.has(w.from) && (flight.kind === 'here' || !w.from.relayed))
      if (at >= 0) {
        flight.computer = flight.waiters.splice(at, 1)[0] as Request
        return this.#assign(flight)
      }
    } else if (flight.waiters.length > 0) return
    // Nobody here can compute: a remote flight gives the computation back to its owner; peeks
    // learn that nothing is being computed.
    this.#end(flight)
    for (const waiter of flight.waiters) {
      this.#close(waiter)
      if (waiter.peek) waiter.from.send({ type: 'none', id: waiter.id, key: flight.key })
    }
  }

  #put(link: Requester, { id, key, token, epoch, value, bytes, buffers, store, life = FOREVER }: PutMessage): void {
    const flight = this.#computing(link, id, key, token, epoch)
    if (flight === undefined || (bytes !== undefined && !(bytes instanceof Uint8Array))) return
    const entry = bytes === undefined ? this.#store.fromValue(key, value, life, monotonic()) : this.#store.fromBytes(key, bytes, buffers === true, life, monotonic())
    const { upstream } = flight
    if (flight.kind === 'remote' && upstream !== undefined) {
      this.#toAgent({ type: 'up-put', rid: upstream.rid, key, token: upstream.token, epoch, value: bytes ?? bytesOf(entry), store: store !== false, life })
    }
    // A computation another process ran and put here through the agent: that process holds the value.
    this.#deliver(flight, entry, { hit: false, remote: false, store: store !== false, stale: false }, link === this.#agent ? id : undefined)
  }

  #fail(link: Requester, id: number, key: string, token: number, epoch: number, error: WireError): void {
    const flight = this.#computing(link, id, key, token, epoch)
    if (flight === undefined) return
    this.#count(Counter.Failures)
    const { upstream } = flight
    if (flight.kind === 'remote' && upstream !== undefined) this.#toAgent({ type: 'up-fail', rid: upstream.rid, key, token: upstream.token, epoch, error })
    this.#refuse(flight, error, epoch)
  }

  /** The flight request `id` computes under `token` in this epoch, its computer closed; undefined when fenced off. */
  #computing(link: Requester, id: number, key: string, token: number, epoch: number): Flight | undefined {
    const request = this.#request(link, id, key)
    const flight = request?.flight
    if (request === undefined || flight?.computer !== request || flight.token !== token || epoch !== this.#epoch) return undefined
    flight.computer = undefined
    this.#close(request)
    return flight
  }

  /** Ends the flight with a value of this epoch: every request still in it gets it; stored if it may be. */
  #deliver(flight: Flight, entry: Entry, how: Delivery, putBy?: number): void {
    this.#end(flight)
    const stored = how.store && !flight.uncached && this.#shared.liveness.serving() && this.#store.offer(flight.key, entry)
    if (stored && this.#data.replicas > 1) {
      // A value computed for this process's own flight goes to the processes that keep copies;
      // those whose requests it answers keep the answer, and the one that computed it its own:
      // they are sent no copy besides.
      if (!how.remote && flight.kind === 'here') {
        const answered = requestsOf(flight).flatMap((request) => (request.from === this.#agent ? [request.id] : []))
        if (putBy !== undefined) answered.push(putBy)
        this.#toAgent({ type: 'up-stored', key: flight.key, epoch: this.#epoch, value: bytesOf(entry), expires: entry.expires, staleUntil: entry.staleUntil, answered })
      }
      // A value from another process, in a process that keeps copies of its key, stands for the
      // copy it was not sent: offered to the threads that did not ask, as such a copy would be.
      if (how.remote && this.#keeps(flight.key)) this.#seed(flight.key, entry, requestsOf(flight))
    }
    // A stale value from another process: this process's callers refresh it (see #place).
    this.#answer(flight, entry, (stored ? STORED : 0) | (how.hit ? HIT : 0) | (how.remote ? REMOTE : 0) | (how.stale ? STALE | REFRESH : 0))
  }

  /** Answers every request of an ended flight with `entry`, as `how` says (answer-bits.ts). */
  #answer(flight: Flight, entry: Entry, how: number): void {
    for (const request of requestsOf(flight)) {
      this.#close(request)
      this.#send(request, entry, how)
    }
  }

  /** Sends `request` the value of `entry`, with the key's fence as it stands now. */
  #send(request: Request, entry: Entry, how: number): void {
    const { fences } = this.#shared
    request.from.sendValue(request, this.#epoch, entry, how, fences.read(fences.slotOf(request.key)))
  }

  /** Ends the flight with an error: every request still in it gets it. */
  #refuse(flight: Flight, error: WireError, epoch: number): void {
    // A failed refresh: the stale value goes on being served, and no other refresh is asked
    // for a while, so that a failing source is not hammered by every hit.
    const stale = this.#store.get(flight.key)
    if (stale !== undefined && stale.expires !== 0) {
      const now = monotonic()
      if (freshness(stale, now) === 'stale') stale.retryAt = now + Math.min(RETRY_MS, stale.staleUntil - now)
    }
    this.#end(flight)
    for (const request of requestsOf(flight)) {
      this.#close(request)
      request.from.send({ type: 'error', id: request.id, key: flight.key, error, epoch })
    }
  }

  /** Removes the flight from the table, and drops what it asked of another process. */
  #end(flight: Flight): void {
    const upstream = this.#flights.end(flight)
    if (upstream !== undefined) this.#toAgent({ type: 'up-drop', rid: upstream.rid, key: flight.key })
  }

  /** Ends the flight and places its requests again: its computer's work no longer counts. */
  #reroute(flight: Flight): void {
    this.#end(flight)
    this.#requeue(flight)
  }

  #requeue(flight: Flight): void {
    const { computer } = flight
    if (computer !== undefined) computer.from.send({ type: 'abort', id: computer.id, key: flight.key, token: flight.token, reason: 'requeued' })
    for (const request of requestsOf(flight)) {
      request.flight = undefined
      if (this.#links.has(request.from)) this.#place(request)
    }
  }

  /** The request is answered: it leaves its link's open requests and its flight. */
  #close(request: Request): void {
    request.from.open.delete(request.id)
    request.flight = undefined
  }

  /** The request is no longer wanted; whether it was computing. */
  #leave(request: Request): boolean {
    const flight = request.flight
    this.#close(request)
    if (flight === undefined) return false
    if (flight.computer === request) {
      this.#handOver(flight)
      return true
    }
    const at = flight.waiters.indexOf(request)
    if (at >= 0) flight.waiters.splice(at, 1)
    if (flight.computer === undefined && flight.waiters.length === 0) this.#end(flight)
    return false
  }

  /** A requester's thread ended (or closed its link): its computations pass to waiters. */
  #lost(link: Requester): void {
    if (!this.#links.delete(link)) return
    for (const request of [...link.open.values()]) if (this.#leave(request)) this.#count(Counter.Failures)
    this.#shared.counters.releaseNearSlot(link.nearSlot, link.nearToken)
  }

  /**
   * The members changed. A flight that waits on a process that has left asks again (now, of the
   * key's new owner). One that waits on a process still there goes on waiting, even if the key
   * now belongs to another: that process serves the request where it landed, so a computation
   * under way there is not thrown away and done again by the new owner, which fetches the value
   * from it (see #previousOwner).
   */
  #view({ members, joined, earlier, handed }: ViewMessage): void {
    this.#members = members
    this.#joined = joined
    this.#earlier = earlier
    this.#handed = handed
    for (const flight of this.#flights.waitingUpstream()) {
      if (!members.includes(flight.upstream?.peer ?? '')) this.#reroute(flight)
    }
  }

  #toAgent(message: OwnerToAgent): void {
    this.#agent?.send(message)
  }

  /** The callers of a remote flight were counted as misses; the value came from a store. */
  #countHitsOf(flight: Flight): void {
    const n = requestsOf(flight).filter((r) => !r.from.relayed).length
    this.#shared.counters.rowAdd(this.#index, Row.Hits, n)
    this.#shared.counters.rowAdd(this.#index, Row.Misses, -n)
  }

  #countRow(field: Row): void {
    this.#shared.counters.rowAdd(this.#index, field, 1)
  }

  #count(counter: Counter): void {
    this.#shared.counters.add(counter, 1)
  }
}
