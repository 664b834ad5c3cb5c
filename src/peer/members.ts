// Who is in the cluster: the peers heard from within the peer timeout. Membership is learned
// on the bus alone (every peer beats every heartbeat), so it needs no server, and a peer that
// stops beating (killed, cut off, stalled) leaves it after the timeout.

interface Member {
  heard: number
  counters: readonly number[]
}

export class Members {
  readonly #self: string
  readonly #timeout: number
  readonly #others = new Map<string, Member>()

  constructor(self: string, timeout: number) {
    this.#self = self
    this.#timeout = timeout
  }

  /** A message from `peer`; true when it is new to the cluster. */
  heard(peer: string, counters?: readonly number[]): boolean {
    if (peer === this.#self) return false
    const member = this.#others.get(peer)
    if (member !== undefined) {
      member.heard = Date.now()
      if (counters !== undefined) member.counters = counters
      return false
    }
    this.#others.set(peer, { heard: Date.now(), counters: counters ?? [] })
    return true
  }

  leave(peer: string): boolean {
    return this.#others.delete(peer)
  }

  /** The peers not heard from within the timeout, removed. */
  expire(): string[] {
    const gone: string[] = []
    const since = Date.now() - this.#timeout
    for (const [peer, member] of this.#others) if (member.heard < since) gone.push(peer)
    for (const peer of gone) this.#others.delete(peer)
    return gone
  }

  clear(): void {
    this.#others.clear()
  }

  /** The other live peers. */
  others(): string[] {
    return [...this.#others.keys()]
  }

  /** Every live member, this one included, in one order every peer agrees on. */
  view(): string[] {
    return [this.#self, ...this.#others.keys()].sort()
  }

  /** The sum of the other peers' counters, field by field. */
  sums(): number[] {
    const sums: number[] = []
    for (const { counters } of this.#others.values()) counters.forEach((n, i) => (sums[i] = (sums[i] ?? 0) + n))
    return sums
  }
}
