// This process's requests to other processes: the upstream requests of its owners' flights (see
// owner/flights.ts), on their way out, and the answers on their way back. A request is named on
// the bus by its owner thread, that thread's incarnation and its number there; an answer that
// names a request this process does not have open, or another key than its request's, goes
// nowhere. A request is renewed a few times a peer timeout until it is answered: pub/sub loses
// messages, and the renewal is the lease of a computation this process runs for another. The
// requests open to one peer from one owner thread are renewed together, in one message that names
// them (`renew`); the owner asked answers it with what it has of each (`renewed`): waiting,
// computing under a token (in case `compute` was lost), or not known, and then the get goes
// again (it was lost, or its request ended there). A request it answers
// nothing for two peer timeouts, though it still beats, is given up on, and the flight is
// computed here. Two: a peer counted in may read this process's messages up to a peer timeout
// late, and its answer be read here as late. Under load (thousands of cold keys asked at once)
// both sides read their messages seconds behind, and giving up after one computed keys twice.
// Nor while it answers this process's other requests: a peer's answers come in one ordered
// stream, so those say that it hears this process, late. For HEARING_MAX peer timeouts at most,
// so a peer that answers all but one request (a forger, a bug) holds that one no longer.
import type { OwnerToAgent, UpStoredMessage } from '../shared/protocol.js'
import { monotonic } from '../shared/clock.js'
import type { Stamp } from '../shared/memory/epoch.js'
import type { AgentIO } from './io.js'
import { RENEW_MAX, RENEWED_UNKNOWN, RENEWED_WAITING, type AnswerMessage, type Renewed } from './wire.js'

interface Ask {
  readonly o: number
  readonly i: string
  readonly r: number
  readonly peer: string
  readonly key: string
  readonly peek: boolean
  readonly refresh: boolean
  /** when the peer last answered (or the request was first sent) */
  answered: number
  /** when the request was last sent */
  sent: number
  /** when chunks from the peer began to stand in for its answers (see hearing), 0: they do not */
  hearingSince: number
}

/**
 * How many peer timeouts chunks from a peer may stand in for its answers (see Asks#hearing): a
 * large value takes a while, but a run of chunks that never makes an answer (a value the
 * receiver refuses, sent again at every renewal) must not hold a request for ever.
 */
export const HEARING_MAX = 4

const nameOf = (o: number, i: string, r: number) => `${o}\u0000${i}\u0000${r}`

/** The peer asked answered about `ask` at `now` (an answer, or a renewed that knows it): its silence ends. */
function answered(ask: Ask, now: number): void {
  ask.answered = now
  ask.hearingSince = 0
}

export class Asks {
  readonly #io: AgentIO
  readonly #timeout: number
  readonly #open = new Map<string, Ask>()
  /** when each peer asked last answered any request of this process's */
  readonly #heard = new Map<string, number>()

  constructor(io: AgentIO, timeout: number) {
    this.#io = io
    this.#timeout = timeout
  }

  /** A message from owner `o`'s instance `i` about one of its upstream requests. */
  fromOwner(o: number, i: string, message: Exclude<OwnerToAgent, UpStoredMessage>): void {
    const r = message.rid
    const name = nameOf(o, i, r)
    const s = this.#io.stamp()
    const k = message.key
    if (message.type === 'up-get') {
      if (message.epoch !== this.#io.epoch() || this.#open.has(name)) return
      const now = monotonic()
      const ask: Ask = { o, i, r, peer: message.peer, key: k, peek: message.peek, refresh: message.refresh, answered: now, sent: now, hearingSince: 0 }
      this.#open.set(name, ask)
      return this.#get(ask, s)
    }
    const ask = this.#open.get(name)
    if (ask === undefined || ask.key !== k) return
    this.#open.delete(name)
    switch (message.type) {
      case 'up-put':
        if (message.epoch === this.#io.epoch()) {
          const { ttl: tl, grace: gr } = message.life
          this.#io.send(ask.peer, { t: 'put', s, o, i, r, k, tk: message.token, v: message.value, ns: !message.store, tl, gr })
        }
        return
      case 'up-fail':
        if (message.epoch === this.#io.epoch()) this.#io.send(ask.peer, { t: 'fail', s, o, i, r, k, tk: message.token, e: message.error })
        return
      case 'up-drop':
        return this.#io.send(ask.peer, { t: 'drop', s, o, i, r, k })
    }
  }

  /** An answer from peer `from` (its stamp already checked). */
  answer(from: string, message: AnswerMessage): void {
    const { o, i, r, k } = message
    const ask = this.#open.get(nameOf(o, i, r))
    if (ask === undefined || ask.peer !== from || ask.key !== k) {
      if (ask !== undefined) this.#io.refused()
      // A computation handed to a request that is over here: hand it back.
      if (message.t === 'compute' && ask === undefined) this.#io.send(from, { t: 'drop', s: this.#io.stamp(), o, i, r, k })
      return
    }
    const now = monotonic()
    answered(ask, now)
    this.#heard.set(from, now)
    const epoch = this.#io.epoch()
    const end = () => this.#open.delete(nameOf(o, i, r))
    switch (message.t) {
      case 'value':
        end()
        this.#io.post(o, { type: 'up-value', rid: r, key: k, epoch, value: message.v, buffers: message.buffers, hit: message.h, life: { ttl: message.tl, grace: message.gr }, stale: message.st })
        return
      case 'compute':
        this.#io.post(o, { type: 'up-compute', rid: r, key: k, epoch, token: message.tk })
        return
      case 'abort':
        end()
        this.#io.post(o, { type: 'up-abort', rid: r, key: k, token: message.tk, fenced: message.fe })
        return
      case 'error':
        end()
        this.#io.post(o, { type: 'up-error', rid: r, key: k, epoch, error: message.e })
        return
      case 'none':
        end()
        this.#io.post(o, { type: 'up-none', rid: r, key: k, epoch })
        return
      case 'wait':
        return
    }
  }

  /** The answer of peer `from` to a renew: what it has of each request named. */
  renewed(from: string, message: Renewed): void {
    const now = monotonic()
    this.#heard.set(from, now)
    const { o, i, rs, tks } = message
    const epoch = this.#io.epoch()
    const s = this.#io.stamp()
    for (let j = 0; j < rs.length; j++) {
      const r = rs[j] as number
      const ask = this.#open.get(nameOf(o, i, r))
      if (ask === undefined || ask.peer !== from) continue
      const tk = tks[j] as number
      // Not known there: that is no answer about it. Its value may have gone in chunks that this
      // process refused (over its memoryLimit), and went again at each get: counted as an
      // answer, that kept the request from ever being given up, and the call hung.
      if (tk === RENEWED_UNKNOWN) {
        ask.sent = now
        this.#get(ask, s)
        continue
      }
      answered(ask, now)
      if (tk !== RENEWED_WAITING) this.#io.post(o, { type: 'up-compute', rid: r, key: ask.key, epoch, token: tk })
    }
  }

  /**
   * `peer` is sending this process an envelope in chunks, one of which came at `now`: it may be
   * the answer to a request made to it, which is then not sent again (each renewal would be
   * answered with the whole value again), nor given up on, while the chunks come: for up to
   * HEARING_MAX peer timeouts, after which the request is on its own again.
   */
  hearing(peer: string, now: number): void {
    for (const ask of this.#open.values()) {
      if (ask.peer !== peer) continue
      if (ask.hearingSince === 0) ask.hearingSince = now
      if (now - ask.hearingSince > HEARING_MAX * this.#timeout) continue
      ask.answered = now
      ask.sent = now
    }
  }

  /**
   * Sends again every open request not sent within `since` ms; gives up on those the peer asked
   * has left unanswered too long (see the top of this file).
   */
  renew(now: number, since: number): void {
    const s = this.#io.stamp()
    const asked = new Set<string>()
    /** the requests due, by peer, owner thread and incarnation */
    const due = new Map<string, { readonly peer: string; readonly o: number; readonly i: string; readonly rs: number[] }>()
    for (const [name, ask] of this.#open) {
      const { o, i, r, key: k, peer } = ask
      asked.add(peer)
      const silent = now - ask.answered
      if (silent > 2 * this.#timeout && (now - (this.#heard.get(peer) ?? 0) > 2 * this.#timeout || silent > HEARING_MAX * this.#timeout)) {
        this.#open.delete(name)
        this.#io.send(peer, { t: 'drop', s, o, i, r, k })
        this.#io.post(o, { type: 'up-lost', rid: r, key: k })
      } else if (now - ask.sent >= since) {
        ask.sent = now
        const group = `${peer}\u0000${o}\u0000${i}`
        let renewing = due.get(group)
        if (renewing === undefined) due.set(group, (renewing = { peer, o, i, rs: [] }))
        renewing.rs.push(r)
      }
    }
    for (const { peer, o, i, rs } of due.values()) {
      for (let at = 0; at < rs.length; at += RENEW_MAX) this.#io.send(peer, { t: 'renew', s, o, i, rs: rs.slice(at, at + RENEW_MAX) })
    }
    for (const peer of this.#heard.keys()) if (!asked.has(peer)) this.#heard.delete(peer)
  }

  /** Sends `ask`'s get, key and all: at first, and again when the peer asked does not have it. */
  #get(ask: Ask, s: Stamp): void {
    const { o, i, r, key: k, peer } = ask
    this.#io.send(peer, { t: 'get', s, o, i, r, k, p: ask.peek, rf: ask.refresh })
  }

  /** Owner `o`'s instance `i` ended: its requests end with it, and the peers asked are told. */
  ownerEnded(o: number, i: string): void {
    const s = this.#io.stamp()
    for (const [name, ask] of this.#open) {
      if (ask.o !== o || ask.i !== i) continue
      this.#open.delete(name)
      this.#io.send(ask.peer, { t: 'drop', s, o, i, r: ask.r, k: ask.key })
    }
  }
}
