// This process's owners' requests to remote owners (their remote flights, see remote.ts),
// on their way out, and the answers on their way back. A request is sent again every
// heartbeat until it is answered: pub/sub loses messages, and the renewal is also what keeps
// this process's lease on a computation it runs for a remote owner.
import type { OwnerToAgent } from '../protocol.js'
import type { AgentIO } from './io.js'
import type { Abort, Compute, Failed, Value } from './wire.js'

interface Ask {
  readonly peer: string
  readonly key: string
}

export class Asks {
  readonly #io: AgentIO
  readonly #byOwner: Map<number, Ask>[]

  constructor(io: AgentIO, owners: number) {
    this.#io = io
    this.#byOwner = Array.from({ length: owners }, () => new Map())
  }

  /** A message from owner `o` about one of its remote flights. */
  fromOwner(o: number, message: OwnerToAgent): void {
    const asks = this.#byOwner[o] as Map<number, Ask>
    const r = message.rid
    const s = this.#io.stamp()
    if (message.type === 'rget') {
      if (message.epoch !== this.#io.epoch()) return
      asks.set(r, { peer: message.peer, key: message.key })
      return this.#io.send(message.peer, { t: 'get', s, o, r, k: message.key })
    }
    const ask = asks.get(r)
    if (ask === undefined) return
    asks.delete(r)
    switch (message.type) {
      case 'rput':
        if (message.epoch === this.#io.epoch()) this.#io.send(ask.peer, { t: 'put', s, o, r, k: message.key, tk: message.token, v: message.value })
        return
      case 'rfail':
        if (message.epoch === this.#io.epoch()) this.#io.send(ask.peer, { t: 'fail', s, o, r, k: message.key, tk: message.token, e: message.error })
        return
      case 'rdrop':
        return this.#io.send(ask.peer, { t: 'drop', s, o, r })
    }
  }

  /** A remote owner's answer, from peer `from` (its stamp already checked). */
  answer(from: string, message: Value | Compute | Abort | Failed): void {
    const { o, r } = message
    const asks = this.#byOwner[o]
    const ask = asks?.get(r)
    if (ask === undefined || ask.peer !== from) {
      // A computation handed to a request that is over here: hand it back.
      if (message.t === 'compute') this.#io.send(from, { t: 'drop', s: this.#io.stamp(), o, r })
      return
    }
    const epoch = this.#io.epoch()
    switch (message.t) {
      case 'value':
        asks?.delete(r)
        this.#io.post(o, { type: 'rvalue', rid: r, epoch, value: message.v, hit: message.h })
        return
      case 'compute':
        this.#io.post(o, { type: 'rcompute', rid: r, epoch, token: message.tk })
        return
      case 'abort':
        asks?.delete(r)
        this.#io.post(o, { type: 'rabort', rid: r, token: message.tk })
        return
      case 'error':
        asks?.delete(r)
        this.#io.post(o, { type: 'rerror', rid: r, epoch, error: message.e })
        return
    }
  }

  /** Sends every open request again. */
  renew(): void {
    const s = this.#io.stamp()
    this.#byOwner.forEach((asks, o) => {
      for (const [r, ask] of asks) this.#io.send(ask.peer, { t: 'get', s, o, r, k: ask.key })
    })
  }

  /** Owner `o`'s thread ended: its remote flights ended with it. */
  forgetOwner(o: number): void {
    this.#byOwner[o]?.clear()
  }
}
