// The owner's table of remote flights: this process's requests for keys that another process
// of the cluster owns. The owner asks the key's owning process once (through the peer agent)
// for all of this process's callers; when that process picks this one to compute, the owner
// picks one of its own callers, and forwards its result. Fencing is two-level:
//
//   remote owner gives token 7 to this process · the owner gives local token 12 to caller A
//   · A's put arrives here under 12 → accepted, forwarded under 7 → the remote owner accepts it
//     only if its flight is still 7's: a lease that expired there (this process went quiet)
//     handed the flight to a waiter of another process, and the late put is refused.
//
//   the key's owning process leaves the cluster · the agent sends a new view · every remote
//   flight whose key now belongs elsewhere is dropped, and its callers ask again: in the new
//   owner's flight, or in a local one when the key is now this process's.
import type { Request } from './flight.js'

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

export class Remotes<L> {
  readonly #byKey = new Map<string, Remote<L>>()
  readonly #byRid = new Map<number, Remote<L>>()
  #lastRid = 0

  get(key: string): Remote<L> | undefined {
    return this.#byKey.get(key)
  }

  byRid(rid: number): Remote<L> | undefined {
    return this.#byRid.get(rid)
  }

  /** A new remote flight for `key`, asked of `peer`, with `first` waiting. */
  start(key: string, peer: string, first: Request<L>): Remote<L> {
    const remote: Remote<L> = { key, rid: ++this.#lastRid, peer, computer: undefined, localToken: 0, remoteToken: 0, waiters: [first] }
    this.#byKey.set(key, remote)
    this.#byRid.set(remote.rid, remote)
    return remote
  }

  end(remote: Remote<L>): void {
    if (this.#byKey.get(remote.key) === remote) this.#byKey.delete(remote.key)
    this.#byRid.delete(remote.rid)
  }

  all(): Remote<L>[] {
    return [...this.#byRid.values()]
  }
}

/** Every request of a remote flight: its computer first, if it has one. */
export function requestsOf<L>(remote: Remote<L>): Request<L>[] {
  return remote.computer === undefined ? [...remote.waiters] : [remote.computer, ...remote.waiters]
}
