// The owner's remote flights: this process's requests for keys that another process of the
// cluster owns. The owner asks the key's owning process once (through the peer agent) for all
// of this process's callers; when that process picks this one to compute, the owner picks one
// of its own callers, and forwards its result. Fencing is two-level:
//
//   remote owner gives token 7 to this process · the owner gives local token 12 to caller A
//   · A's put arrives here under 12 → accepted, forwarded under 7 → the remote owner accepts it
//     only if its flight is still 7's: a lease that expired there (this process went quiet)
//     handed the flight to a waiter of another process, and the late put is refused.
//
//   the key's owning process leaves the cluster · the agent sends a new view · every remote
//   flight whose key now belongs elsewhere is dropped, and its callers ask again: in the new
//   owner's flight, or in a local one when the key is now this process's.
import type { AgentToOwner, OwnerMessage, OwnerToAgent, WireError } from './protocol.js'
import type { Request } from './flight.js'
import { peerOf } from './ring.js'
import { Row } from './shared.js'

export interface Remote<L> {
  readonly key: string
  readonly rid: number
  /** the process asked */
  readonly peer: string
  /** this process's caller computing for the remote flight, under localToken */
  computer: Request<L> | undefined
  localToken: number
  /** the remote owner's token for this process's computation */
  remoteToken: number
  readonly waiters: Request<L>[]
}

/** What remote flights need of their owner. */
export interface RemoteHost<L> {
  epoch(): number
  /** Whether the request's caller thread is still linked. */
  linked(link: L): boolean
  send(link: L, message: OwnerMessage): void
  /** Forgets request `id` on its link (it is answered or handed on). */
  close(request: Request<L>): void
  /** Places a request again, as if it had just arrived. */
  place(request: Request<L>, key: string): void
  deliver(key: string, requests: readonly Request<L>[], value: Uint8Array, hit: boolean): void
  refuse(requests: readonly Request<L>[], error: WireError, epoch: number): void
  count(field: Row, n: number): void
  nextToken(): number
  toAgent(message: OwnerToAgent): void
}

/** Every request of a remote flight: its computer first, if it has one. */
function requestsOf<L>(remote: Remote<L>): Request<L>[] {
  return remote.computer === undefined ? [...remote.waiters] : [remote.computer, ...remote.waiters]
}

const same = <L>(a: Request<L> | undefined, b: Request<L>) => a?.link === b.link && a.id === b.id

export class RemoteFlights<L> {
  readonly #host: RemoteHost<L>
  readonly #byKey = new Map<string, Remote<L>>()
  readonly #byRid = new Map<number, Remote<L>>()
  #lastRid = 0
  /** The live members of the cluster; empty without a bus. */
  #members: readonly string[] = []

  constructor(host: RemoteHost<L>) {
    this.#host = host
  }

  get(key: string): Remote<L> | undefined {
    return this.#byKey.get(key)
  }

  /** The process that owns `key`, when it is another one. */
  elsewhere(key: string, self: string): string | undefined {
    if (this.#members.length < 2) return undefined
    const peer = peerOf(key, this.#members)
    return peer === self ? undefined : peer
  }

  /** A new remote flight for `key`, asked of `peer`, with `first` waiting. */
  start(key: string, peer: string, first: Request<L>): void {
    const remote: Remote<L> = { key, rid: ++this.#lastRid, peer, computer: undefined, localToken: 0, remoteToken: 0, waiters: [first] }
    this.#byKey.set(key, remote)
    this.#byRid.set(remote.rid, remote)
    this.#host.toAgent({ type: 'rget', rid: remote.rid, key, peer, epoch: this.#host.epoch() })
  }

  /** Our caller's value for a remote flight it computes under `token`: served here, sent on. */
  put(key: string, token: number, epoch: number, value: Uint8Array): boolean {
    const remote = this.#computing(key, token, epoch)
    if (remote === undefined) return false
    this.#host.deliver(key, remote.waiters, value, false)
    this.#host.toAgent({ type: 'rput', rid: remote.rid, key, token: remote.remoteToken, epoch, value })
    return true
  }

  fail(key: string, token: number, epoch: number, error: WireError): boolean {
    const remote = this.#computing(key, token, epoch)
    if (remote === undefined) return false
    this.#host.count(Row.Failures, 1)
    this.#host.refuse(remote.waiters, error, epoch)
    this.#host.toAgent({ type: 'rfail', rid: remote.rid, key, token: remote.remoteToken, epoch, error })
    return true
  }

  /** The remote flight our caller computes under `token`, ended; undefined when fenced off. */
  #computing(key: string, token: number, epoch: number): Remote<L> | undefined {
    const remote = this.#byKey.get(key)
    if (remote?.computer === undefined || remote.localToken !== token || epoch !== this.#host.epoch()) return undefined
    this.#end(remote)
    this.#host.close(remote.computer)
    return remote
  }

  /** The request leaves the remote flight of `key`; whether it was computing. */
  leave(key: string, request: Request<L>): boolean {
    const remote = this.#byKey.get(key)
    if (remote === undefined) return false
    if (same(remote.computer, request)) {
      this.#assign(remote)
      return true
    }
    const at = remote.waiters.findIndex((w) => same(w, request))
    if (at >= 0) remote.waiters.splice(at, 1)
    if (remote.computer === undefined && remote.waiters.length === 0) this.#drop(remote)
    return false
  }

  /** A message from the peer agent. */
  receive(message: AgentToOwner): void {
    if (message.type === 'view') return this.#view(message.members)
    const remote = this.#byRid.get(message.rid)
    if (remote === undefined) {
      // An answer for a remote flight that has ended here: if it hands us a computation, give it back.
      if (message.type === 'rcompute') this.#host.toAgent({ type: 'rdrop', rid: message.rid })
      return
    }
    const epoch = this.#host.epoch()
    switch (message.type) {
      case 'rvalue': {
        if (message.epoch !== epoch) return
        this.#end(remote)
        const requests = requestsOf(remote)
        if (message.hit) {
          this.#host.count(Row.Hits, requests.length)
          this.#host.count(Row.Misses, -requests.length)
        }
        return this.#host.deliver(remote.key, requests, message.value, message.hit)
      }
      case 'rerror':
        if (message.epoch !== epoch) return
        this.#end(remote)
        return this.#host.refuse(requestsOf(remote), message.error, message.epoch)
      case 'rcompute':
        if (message.epoch !== epoch) return
        remote.remoteToken = message.token
        if (remote.computer === undefined) this.#assign(remote)
        return
      case 'rabort': {
        // The remote owner ran out of patience with our computer: that call ends with a
        // timeout, as a local one would; the others ask again.
        const { computer } = remote
        if (computer === undefined || message.token !== remote.remoteToken) return
        this.#host.close(computer)
        this.#host.send(computer.link, { type: 'abort', id: computer.id, token: remote.localToken, reason: 'timeout' })
        remote.computer = undefined
        return this.#reroute(remote)
      }
    }
  }

  /** The epoch moved: every remote flight is stale, and its requests ask again. */
  rerouteAll(): void {
    for (const remote of [...this.#byRid.values()]) this.#reroute(remote)
  }

  /** The members changed: remote flights whose key now belongs elsewhere ask again there. */
  #view(members: readonly string[]): void {
    this.#members = members
    for (const remote of [...this.#byRid.values()]) {
      if (members.length < 2 || peerOf(remote.key, members) !== remote.peer) this.#reroute(remote)
    }
  }

  /**
   * Ends a remote flight and places its requests again, as after a reset: its computer (if
   * any) is told its work no longer counts, and every request is asked again.
   */
  #reroute(remote: Remote<L>): void {
    this.#drop(remote)
    const { computer } = remote
    if (computer !== undefined) this.#host.send(computer.link, { type: 'abort', id: computer.id, token: remote.localToken, reason: 'reset' })
    for (const request of requestsOf(remote)) {
      if (this.#host.linked(request.link)) this.#host.place(request, remote.key)
    }
  }

  /** The remote owner picked this process to compute: one of our callers does. */
  #assign(remote: Remote<L>): void {
    remote.computer = undefined
    for (let next = remote.waiters.shift(); next !== undefined; next = remote.waiters.shift()) {
      if (!this.#host.linked(next.link)) continue
      remote.computer = next
      remote.localToken = this.#host.nextToken()
      this.#host.count(Row.Computes, 1)
      this.#host.send(next.link, { type: 'compute', id: next.id, epoch: this.#host.epoch(), token: remote.localToken })
      return
    }
    this.#drop(remote)
  }

  #drop(remote: Remote<L>): void {
    this.#end(remote)
    this.#host.toAgent({ type: 'rdrop', rid: remote.rid })
  }

  #end(remote: Remote<L>): void {
    if (this.#byKey.get(remote.key) === remote) this.#byKey.delete(remote.key)
    this.#byRid.delete(remote.rid)
  }
}
