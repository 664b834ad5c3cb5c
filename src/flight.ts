// The owner's in-flight table: for each key being computed, who computes it and who waits.
//
// The owner is an actor: it handles one message at a time, so "look up the store, then the
// flights, then start a flight" is one step and two callers can never both become computer.
// The races that remain are between a computer and time, and each is fenced here:
//
//   computer A gets token 1 · A stalls past computeTimeout · waiter B is promoted, token 2
//   · A's late put (token 1) arrives → refused: the flight now belongs to token 2.
//
//   computer A gets token 1 in epoch 5 · reset to epoch 6 · the owner drops its flights and
//   queues A and its waiters again in epoch 6 · A's put (token 1, epoch 5) arrives → refused.
//
// A computer's thread that dies is noticed by its link closing; the flight passes on as for a
// timeout. The next waiter computes with its own fn: closures never cross threads.

/** A caller's request, as an owner knows it: which link it came on, and its id there. */
export interface Request<L> {
  readonly link: L
  readonly id: number
}

export interface Flight<L> {
  readonly key: string
  token: number
  computer: Request<L>
  readonly waiters: Request<L>[]
  timer: NodeJS.Timeout | undefined
}

export class Flights<L> {
  readonly #byKey = new Map<string, Flight<L>>()
  #lastToken = 0

  get(key: string): Flight<L> | undefined {
    return this.#byKey.get(key)
  }

  /** A fresh fencing token, unique among this owner's flights and remote flights. */
  nextToken(): number {
    return ++this.#lastToken
  }

  /** A new flight for `key`, computed by `computer` under a fresh token. */
  start(key: string, computer: Request<L>): Flight<L> {
    const flight: Flight<L> = { key, token: this.nextToken(), computer, waiters: [], timer: undefined }
    this.#byKey.set(key, flight)
    return flight
  }

  /** Hands the flight to its next waiter under a fresh token; false (and ended) when none. */
  promote(flight: Flight<L>): boolean {
    clearTimeout(flight.timer)
    flight.timer = undefined
    const next = flight.waiters.shift()
    if (next === undefined) {
      this.end(flight)
      return false
    }
    flight.computer = next
    flight.token = this.nextToken()
    return true
  }

  end(flight: Flight<L>): void {
    clearTimeout(flight.timer)
    if (this.#byKey.get(flight.key) === flight) this.#byKey.delete(flight.key)
  }

  /** Every flight, removed from the table (a reset makes them all stale). */
  takeAll(): Flight<L>[] {
    const all = [...this.#byKey.values()]
    for (const flight of all) clearTimeout(flight.timer)
    this.#byKey.clear()
    return all
  }
}
