// The owner's in-flight table: for each key being computed, who computes it and who waits. One
// kind of flight serves every case, so a request leaves a flight, and a lost computer hands its
// flight on, by one path whatever the requests' origin:
//
//   here      this owner chooses the computer among the flight's requests: a caller thread of
//             this process, or (through the agent) a process that asked for a key this process
//             owns. A process that just joined a running cluster first asks the key's previous
//             owner for the value it may hold (`upstream` with `peek`), and computes only if
//             that owner holds nothing and computes nothing.
//   remote    the key belongs to another process: this owner asks it once (`upstream`) for all of
//             its callers, and when that process picks this one to compute, picks one of them.
//
// The owner is an actor: it handles one message at a time, so "look up the store, then the
// flights, then start a flight" is one step, and two requests can never both become computer.
// The races that remain are between a computer and time, and each is fenced by a token:
//
//   computer A gets token 1 · A stalls past computeTimeout · waiter B is promoted, token 2
//   · A's late put (token 1) arrives → refused: the flight now belongs to token 2.
//
//   computer A gets token 1 in epoch 5 · reset to epoch 6 · the owner ends its flights and
//   places A and its waiters again in epoch 6 · A's put (token 1, epoch 5) arrives → refused.
//
//   remote owner gives token 7 to this process · this owner gives token 12 to caller A · A's put
//   arrives under 12 → accepted, sent on under 7 → the remote owner takes it only if its flight
//   is still 7's: a lease that lapsed there handed the flight to another process.
import type { Request } from './requester.js'

/** The process a flight waits on. */
export interface Upstream {
  readonly peer: string
  /** names the request on the bus, with this owner's index and incarnation */
  readonly rid: number
  /** asking only for a value the peer holds or computes (a newcomer's fetch) */
  readonly peek: boolean
  /** the peer's token for a computation it gave this process; 0 until it gives one */
  token: number
}

export interface Flight {
  readonly key: string
  readonly kind: 'here' | 'remote'
  /** this owner's fencing token for the current computation */
  token: number
  computer: Request | undefined
  readonly waiters: Request[]
  upstream: Upstream | undefined
  /** its value is not stored: computed while this process may not serve, or for want of an owner that answers */
  readonly uncached: boolean
  timer: NodeJS.Timeout | undefined
  /** the earlier members asked for the key's value as its previous owner that had none (see Owner#previousOwner) */
  readonly emptyHanded: string[]
}

export class Flights {
  readonly #here = new Map<string, Flight>()
  readonly #remote = new Map<string, Flight>()
  readonly #byRid = new Map<number, Flight>()
  #lastToken = 0
  #lastRid = 0

  /** The flight a request for `key` joins: the one computing here first, else, for a caller of this process, the remote one. */
  find(key: string, relayed: boolean): Flight | undefined {
    return this.#here.get(key) ?? (relayed ? undefined : this.#remote.get(key))
  }

  /** The flight waiting on upstream request `rid`. */
  upstream(rid: number): Flight | undefined {
    return this.#byRid.get(rid)
  }

  start(kind: Flight['kind'], key: string, uncached: boolean): Flight {
    const flight: Flight = { key, kind, token: 0, computer: undefined, waiters: [], upstream: undefined, uncached, timer: undefined, emptyHanded: [] }
    ;(kind === 'here' ? this.#here : this.#remote).set(key, flight)
    return flight
  }

  /** Makes the flight wait on `peer`; returns the new upstream request. */
  ask(flight: Flight, peer: string, peek: boolean): Upstream {
    const upstream: Upstream = { peer, rid: ++this.#lastRid, peek, token: 0 }
    flight.upstream = upstream
    this.#byRid.set(upstream.rid, flight)
    return upstream
  }

  /** The flight no longer waits on its upstream; returns it, to be dropped there. */
  unask(flight: Flight): Upstream | undefined {
    const { upstream } = flight
    if (upstream === undefined) return undefined
    flight.upstream = undefined
    this.#byRid.delete(upstream.rid)
    return upstream
  }

  /** A fresh token for the flight's computer. */
  fence(flight: Flight): number {
    clearTimeout(flight.timer)
    flight.timer = undefined
    flight.token = ++this.#lastToken
    return flight.token
  }

  /** Removes the flight from the table; returns its upstream, to be dropped there, if it had one. */
  end(flight: Flight): Upstream | undefined {
    clearTimeout(flight.timer)
    flight.timer = undefined
    const table = flight.kind === 'here' ? this.#here : this.#remote
    if (table.get(flight.key) === flight) table.delete(flight.key)
    return this.unask(flight)
  }

  /** Every flight, in any table. */
  all(): Flight[] {
    return [...this.#here.values(), ...this.#remote.values()]
  }

  /** The flights that wait on another process. */
  waitingUpstream(): Flight[] {
    return [...this.#byRid.values()]
  }
}

/** Every request of a flight: its computer first, if it has one. */
export function requestsOf(flight: Flight): Request[] {
  return flight.computer === undefined ? [...flight.waiters] : [flight.computer, ...flight.waiters]
}
