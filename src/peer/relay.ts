// Remote peers' requests for keys this process owns. Each becomes an ordinary request on the
// agent's link to the key's owner thread, which serves it like a local caller's: a hit, a wait
// in a flight, or a computation the remote peer runs under the owner's fencing token.
//
// The requester sends its get again every heartbeat until it is answered: that renewal is the
// remote computer's lease. A request not renewed within the peer timeout is dropped here, and
// its flight passes to a waiter — so a lost put, a stalled process or a cut link strands
// nobody. A repeated get for a request already here is a renewal, and re-sends a `compute`
// in case the first one was lost.
import { serialize } from 'node:v8'
import type { OwnerMessage } from '../protocol.js'
import { ownerOf } from '../key.js'
import type { AgentIO } from './io.js'
import type { Drop, Fail, Get, Put } from './wire.js'

interface Relayed {
  readonly peer: string
  readonly o: number
  readonly r: number
  readonly key: string
  readonly owner: number
  readonly id: number
  state: 'asking' | 'computing'
  token: number
  seen: number
}

export class Relays {
  readonly #io: AgentIO
  readonly #owners: number
  readonly #lease: number
  readonly #byName = new Map<string, Relayed>()
  readonly #byId = new Map<number, Relayed>()
  #lastId = 0

  constructor(io: AgentIO, owners: number, lease: number) {
    this.#io = io
    this.#owners = owners
    this.#lease = lease
  }

  /** A request message from peer `from` (its stamp already checked). */
  request(from: string, message: Get | Put | Fail | Drop): void {
    const name = `${from}\u0000${message.o}\u0000${message.r}`
    const known = this.#byName.get(name)
    switch (message.t) {
      case 'get': {
        if (known !== undefined) {
          known.seen = Date.now()
          if (known.state === 'computing') this.#io.send(from, { t: 'compute', s: this.#io.stamp(), o: known.o, r: known.r, tk: known.token })
          return
        }
        const owner = ownerOf(message.k, this.#owners)
        const id = ++this.#lastId
        // No port while the owner restarts: the next renewal asks again.
        if (!this.#io.post(owner, { type: 'get', id, key: message.k })) return
        const relayed: Relayed = { peer: from, o: message.o, r: message.r, key: message.k, owner, id, state: 'asking', token: 0, seen: Date.now() }
        this.#byName.set(name, relayed)
        this.#byId.set(id, relayed)
        return
      }
      case 'put':
        if (known === undefined) return
        this.#forget(known)
        this.#io.post(known.owner, { type: 'put', key: known.key, token: message.tk, epoch: this.#io.epoch(), value: message.v })
        return
      case 'fail':
        if (known === undefined) return
        this.#forget(known)
        this.#io.post(known.owner, { type: 'fail', key: known.key, token: message.tk, epoch: this.#io.epoch(), error: message.e })
        return
      case 'drop':
        if (known !== undefined) this.#drop(known)
        return
    }
  }

  /** An owner's answer to a relayed request, passed on to the peer that asked. */
  answer(message: OwnerMessage): void {
    if (message.type === 'pong') return
    const relayed = this.#byId.get(message.id)
    if (relayed === undefined) return
    const { peer, o, r } = relayed
    const s = this.#io.stamp()
    switch (message.type) {
      case 'value': {
        this.#forget(relayed)
        // A value of an epoch this process has left is not sent; the requester asks again.
        if (message.epoch !== this.#io.epoch()) return
        const v = message.bytes ?? serialize(message.value)
        return this.#io.send(peer, { t: 'value', s, o, r, v, h: message.hit })
      }
      case 'compute':
        relayed.state = 'computing'
        relayed.token = message.token
        if (message.epoch === this.#io.epoch()) this.#io.send(peer, { t: 'compute', s, o, r, tk: message.token })
        return
      case 'abort':
        // reset: the owner has queued the request again in the new epoch; its answer follows
        if (message.reason === 'reset') {
          relayed.state = 'asking'
          return
        }
        this.#forget(relayed)
        return this.#io.send(peer, { t: 'abort', s, o, r, tk: message.token })
      case 'error':
        this.#forget(relayed)
        if (message.epoch !== undefined && message.epoch !== this.#io.epoch()) return
        return this.#io.send(peer, { t: 'error', s, o, r, e: message.error })
    }
  }

  /** Requests not renewed within the lease are given up; their flights pass on. */
  expire(): void {
    const since = Date.now() - this.#lease
    for (const relayed of [...this.#byId.values()]) if (relayed.seen < since) this.#drop(relayed)
  }

  /** `peer` left the cluster: its requests are dropped, and its computations pass on. */
  forgetPeer(peer: string): void {
    for (const relayed of [...this.#byId.values()]) if (relayed.peer === peer) this.#drop(relayed)
  }

  /** Owner `owner`'s thread ended, and its requests with it: renewals ask its successor. */
  forgetOwner(owner: number): void {
    for (const relayed of [...this.#byId.values()]) if (relayed.owner === owner) this.#forget(relayed)
  }

  clear(): void {
    for (const relayed of [...this.#byId.values()]) this.#drop(relayed)
  }

  #drop(relayed: Relayed): void {
    this.#forget(relayed)
    this.#io.post(relayed.owner, { type: 'drop', id: relayed.id })
  }

  #forget(relayed: Relayed): void {
    this.#byId.delete(relayed.id)
    this.#byName.delete(`${relayed.peer}\u0000${relayed.o}\u0000${relayed.r}`)
  }
}
