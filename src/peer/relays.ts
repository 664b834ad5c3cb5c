// Other processes' requests for keys this process owns. Each becomes an ordinary request on the
// agent's link to the key's owner thread, which serves it like a local caller's: a hit, a wait
// in a flight, or a computation the asking process runs under the owner's fencing token.
//
// A request is named by its asker (peer, owner thread, that thread's incarnation, number) and
// carries its key; a message that names a known request with another key is refused. The asker
// renews it a few times a peer timeout until it is answered (a `renew` names many): that renewal
// is the lease of its computation. A request not renewed within the peer timeout is dropped
// here, and its flight passes on — so a lost put, a stalled process or a cut link strands nobody.
// A renewal is answered, so that the asker knows this process has its request (`renewed`: the
// token it computes under, in case `compute` was lost, or that it waits, or that this process
// does not have it).
//
// When an owner thread of this process ends, its requests are placed again on its next instance
// as soon as that one is up; when supervision gives up on it, they end with OwnerUnavailableError.
import { serialize } from 'node:v8'
import type { AnswerMessage as OwnerAnswer } from '../shared/protocol.js'
import { OwnerUnavailableError, toWire } from '../shared/errors.js'
import { ownerOf, showKey } from '../shared/key.js'
import { lifeLeft } from '../shared/lifetime.js'
import { monotonic } from '../shared/clock.js'
import { HIT, STALE } from '../shared/answer-bits.js'
import type { AgentIO } from './io.js'
import type { PeerTimeouts } from './members.js'
import { HEARING_MAX } from './asks.js'
import { RENEWED_UNKNOWN, RENEWED_WAITING, type AskMessage, type Renew } from './wire.js'

interface Relayed {
  readonly peer: string
  readonly o: number
  readonly i: string
  readonly r: number
  readonly key: string
  readonly peek: boolean
  readonly refresh: boolean
  /** the owner thread of this process that serves it, and its id on the agent's link there (0: not placed) */
  readonly owner: number
  id: number
  state: 'asking' | 'computing'
  token: number
  seen: number
  /** when chunks from the asker began to stand in for its renewals (see hearing), 0: they do not */
  hearingSince: number
  /** when the asker was last told something about it */
  told: number
}

/** Its asker renewed `relayed` at `now` (a get again, or a renew that names it): its lease runs from now. */
function renewed(relayed: Relayed, now: number): void {
  relayed.seen = now
  relayed.hearingSince = 0
}

/** puts remembered at most (see Relays#putBy): far more than the owner threads leave unsaid between two of their answers */
const PUT_BY_MAX = 256

const nameOf = (peer: string, o: number, i: string, r: number) => `${peer}\u0000${o}\u0000${i}\u0000${r}`

export class Relays {
  readonly #io: AgentIO
  readonly #owners: number
  /** how long a peer's request lasts unrenewed, and how long that peer waits for an answer (members.ts) */
  readonly #timeouts: PeerTimeouts
  readonly #byName = new Map<string, Relayed>()
  readonly #byId = new Map<number, Relayed>()
  /**
   * Requests answered with a value that goes in chunks, by name, and when: a renewal sent before
   * the first chunk arrived is not answered with the whole value again (a 24 MiB value went three
   * times), for a quarter of the time the asker waits for an answer. After that the value may
   * have been lost (a chunk of it), and goes again.
   */
  readonly #inChunks = new Map<string, { readonly peer: string; readonly at: number }>()
  /**
   * Whose computations were put here lately, by their request's id on the owner's link: the
   * request is over here once its put is passed on, but the value the owner then stores is
   * theirs already, and is sent them as no copy (see peersAnswered). A few only: the owner says
   * so at once, or never (the put was refused, or the value not stored).
   */
  readonly #putBy = new Map<number, { readonly peer: string; readonly key: string }>()
  /** owner threads supervision gave up on */
  readonly #gaveUp = new Set<number>()
  /** whether requests are held rather than placed: while this process is not live (see hold) */
  #holding = true
  #lastId = 0

  constructor(io: AgentIO, owners: number, timeouts: PeerTimeouts) {
    this.#io = io
    this.#owners = owners
    this.#timeouts = timeouts
  }

  /** A request message from peer `from` (its stamp already checked). */
  request(from: string, message: AskMessage): void {
    const { o, i, r, k } = message
    const known = this.#byName.get(nameOf(from, o, i, r))
    if (known !== undefined && known.key !== k) return this.#io.refused()
    switch (message.t) {
      case 'get': {
        const now = monotonic()
        if (known !== undefined) {
          renewed(known, now)
          // A renewal is answered, so the asker knows its request is here (asks.ts renews a few
          // times within the time it waits for an answer): not twice for one renewal that came
          // twice.
          if (now - known.told < this.#timeouts.ownTimeoutOf(from) / 8) return
          known.told = now
          const s = this.#io.stamp()
          if (known.state === 'computing') this.#io.send(from, { t: 'compute', s, o, i, r, k, tk: known.token })
          else this.#io.send(from, { t: 'wait', s, o, i, r, k })
          return
        }
        const sent = this.#inChunks.get(nameOf(from, o, i, r))
        if (sent !== undefined && now - sent.at < this.#timeouts.ownTimeoutOf(from) / 4) return
        const relayed: Relayed = { peer: from, o, i, r, key: k, peek: message.p, refresh: message.rf, owner: ownerOf(k, this.#owners), id: 0, state: 'asking', token: 0, seen: now, hearingSince: 0, told: now }
        this.#byName.set(nameOf(from, o, i, r), relayed)
        return this.#place(relayed)
      }
      // The asker is done with its request. If the owner refuses the put or fail (another
      // token, another epoch), the drop that follows it on the same port ends the request there,
      // so that its flight passes on; if the owner took it, the drop finds nothing.
      case 'put':
        if (known === undefined) return
        this.#forget(known)
        this.#putBy.set(known.id, { peer: from, key: k })
        if (this.#putBy.size > PUT_BY_MAX) this.#putBy.delete(this.#putBy.keys().next().value as number)
        this.#io.post(known.owner, {
          type: 'put',
          id: known.id,
          key: k,
          token: message.tk,
          epoch: this.#io.epoch(),
          bytes: message.v,
          buffers: message.buffers,
          store: !message.ns,
          life: { ttl: message.tl, grace: message.gr },
        })
        this.#io.post(known.owner, { type: 'drop', id: known.id, key: k })
        return
      case 'fail':
        if (known === undefined) return
        this.#forget(known)
        this.#io.post(known.owner, { type: 'fail', id: known.id, key: k, token: message.tk, epoch: this.#io.epoch(), error: message.e })
        this.#io.post(known.owner, { type: 'drop', id: known.id, key: k })
        return
      case 'drop':
        if (known !== undefined) this.#drop(known)
        return
    }
  }

  /** A renewal of requests of peer `from` (its stamp already checked), answered with what is here of each. */
  renew(from: string, message: Renew): void {
    const { o, i, rs } = message
    const now = monotonic()
    const tks = rs.map((r) => {
      const known = this.#byName.get(nameOf(from, o, i, r))
      if (known === undefined) return RENEWED_UNKNOWN
      renewed(known, now)
      known.told = now
      return known.state === 'computing' ? known.token : RENEWED_WAITING
    })
    this.#io.send(from, { t: 'renewed', s: this.#io.stamp(), o, i, rs, tks })
  }

  /**
   * Until `release`, requests are kept and renewed here but not placed on an owner thread: this
   * process is joining, or catching up after it was cut off, and serves nothing stored. Its
   * peers count it in as soon as they hear its hello and send it the requests for the keys it
   * owns from then on; an owner thread not serving computes them at once, uncached, and one of
   * a process still joining had not yet learnt which peer held each key before it: under a
   * stampede, keys a peer held or was computing were computed again here.
   */
  hold(): void {
    this.#holding = true
  }

  /** This process is live: the requests held meanwhile are placed, in the order they came. */
  release(): void {
    if (!this.#holding) return
    this.#holding = false
    for (const relayed of [...this.#byName.values()]) if (relayed.id === 0) this.#place(relayed)
  }

  /** Makes the request on its owner thread, under a new id; with no owner there, it waits for the next (or ends, if given up on); while held, later. */
  #place(relayed: Relayed): void {
    if (this.#holding) return
    if (this.#gaveUp.has(relayed.owner)) return this.#unavailable(relayed)
    this.#byId.delete(relayed.id)
    relayed.id = ++this.#lastId
    relayed.state = 'asking'
    relayed.token = 0
    this.#byId.set(relayed.id, relayed)
    this.#io.post(relayed.owner, { type: 'get', id: relayed.id, key: relayed.key, peek: relayed.peek, refresh: relayed.refresh })
  }

  #unavailable(relayed: Relayed): void {
    this.#forget(relayed)
    const { peer, o, i, r, key: k } = relayed
    const error = toWire(new OwnerUnavailableError(showKey(k), relayed.owner))
    this.#io.send(peer, { t: 'error', s: this.#io.stamp(), o, i, r, k, e: error })
  }

  /**
   * The peers that asked for `key` in the requests `ids` (on the agent's link to its owner
   * thread): those still open here, which the owner answers with its value next, and those that
   * computed it and put it here.
   */
  peersAnswered(ids: readonly number[], key: string): Set<string> {
    const peers = new Set<string>()
    for (const id of ids) {
      const relayed = this.#byId.get(id) ?? this.#putBy.get(id)
      if (relayed?.key === key) peers.add(relayed.peer)
      this.#putBy.delete(id)
    }
    return peers
  }

  /** Owner thread `owner`'s answer to a relayed request, passed on to the peer that asked. */
  answer(owner: number, message: OwnerAnswer): void {
    const relayed = this.#byId.get(message.id)
    if (relayed === undefined) {
      // A computation handed to a request that is over here (its put was refused by an owner
      // that had moved on, and placed it again): say no, so that the flight passes on.
      if (message.type === 'compute') this.#io.post(owner, { type: 'drop', id: message.id, key: message.key })
      return
    }
    if (relayed.key !== message.key) return this.#io.refused()
    const { peer, o, i, r, key: k } = relayed
    const s = this.#io.stamp()
    switch (message.type) {
      case 'value': {
        this.#forget(relayed)
        // A value of an epoch this process has left is not sent; the requester asks again.
        if (message.epoch !== this.#io.epoch()) return
        const v = message.bytes ?? serialize(message.value)
        const now = monotonic()
        if (this.#io.chunked(v.byteLength)) this.#inChunks.set(nameOf(peer, o, i, r), { peer, at: now })
        const { ttl: tl, grace: gr } = lifeLeft({ expires: message.expires ?? 0, staleUntil: message.staleUntil ?? 0 }, now)
        return this.#io.send(peer, { t: 'value', s, o, i, r, k, v, h: (message.how & HIT) !== 0, tl, gr, st: (message.how & STALE) !== 0 })
      }
      case 'compute':
        relayed.state = 'computing'
        relayed.token = message.token
        relayed.told = monotonic()
        if (message.epoch === this.#io.epoch()) this.#io.send(peer, { t: 'compute', s, o, i, r, k, tk: message.token })
        return
      case 'abort':
        // requeued while it waited: the owner has placed the request again; its answer follows.
        if (message.reason === 'requeued' && relayed.state === 'asking') return
        // Requeued while the asker computes (the key was invalidated or set, or the reset
        // moved): the asker is told its computation no longer counts, and asks again, rather
        // than be handed a new token that its computation under way could put under.
        this.#forget(relayed)
        if (message.reason === 'requeued') this.#io.post(owner, { type: 'drop', id: relayed.id, key: k })
        return this.#io.send(peer, { t: 'abort', s, o, i, r, k, tk: message.token, fe: message.reason === 'requeued' })
      case 'error':
        this.#forget(relayed)
        if (message.epoch !== undefined && message.epoch !== this.#io.epoch()) return
        return this.#io.send(peer, { t: 'error', s, o, i, r, k, e: message.error })
      case 'none':
        this.#forget(relayed)
        return this.#io.send(peer, { t: 'none', s, o, i, r, k })
    }
  }

  /**
   * `peer` is sending this process an envelope in chunks (one came at `now`): perhaps a put,
   * while its requests are not renewed. For up to HEARING_MAX of its timeouts (see asks.ts).
   */
  hearing(peer: string, now: number): void {
    for (const relayed of this.#byName.values()) {
      if (relayed.peer !== peer) continue
      if (relayed.hearingSince === 0) relayed.hearingSince = now
      if (now - relayed.hearingSince <= HEARING_MAX * this.#timeouts.timeoutOf(peer)) relayed.seen = now
    }
  }

  /** Requests not renewed within the lease are given up; their flights pass on. */
  expire(now: number): void {
    for (const relayed of [...this.#byName.values()]) if (now - relayed.seen > this.#timeouts.timeoutOf(relayed.peer)) this.#drop(relayed)
    for (const [name, { peer, at }] of this.#inChunks) if (now - at > this.#timeouts.timeoutOf(peer)) this.#inChunks.delete(name)
  }

  /** `peer` left the cluster: its requests are dropped, and its computations pass on. */
  forgetPeer(peer: string): void {
    for (const relayed of [...this.#byName.values()]) if (relayed.peer === peer) this.#drop(relayed)
    for (const [name, sent] of this.#inChunks) if (sent.peer === peer) this.#inChunks.delete(name)
  }

  /** Owner `owner` has a new instance: the requests the last one had (or that waited for one) are placed on it. */
  ownerStarted(owner: number): void {
    this.#gaveUp.delete(owner)
    for (const relayed of [...this.#byName.values()]) if (relayed.owner === owner) this.#place(relayed)
  }

  /** Owner `owner`'s instance ended with its requests; with `gaveUp`, no other will come. */
  ownerEnded(owner: number, gaveUp: boolean): void {
    if (gaveUp) this.#gaveUp.add(owner)
    for (const relayed of [...this.#byName.values()]) {
      if (relayed.owner !== owner) continue
      if (gaveUp) this.#unavailable(relayed)
      else {
        this.#byId.delete(relayed.id)
        relayed.id = 0
      }
    }
  }

  clear(): void {
    for (const relayed of [...this.#byName.values()]) this.#drop(relayed)
    this.#inChunks.clear()
  }

  #drop(relayed: Relayed): void {
    this.#forget(relayed)
    if (relayed.id !== 0) this.#io.post(relayed.owner, { type: 'drop', id: relayed.id, key: relayed.key })
  }

  #forget(relayed: Relayed): void {
    this.#byId.delete(relayed.id)
    this.#byName.delete(nameOf(relayed.peer, relayed.o, relayed.i, relayed.r))
  }
}
