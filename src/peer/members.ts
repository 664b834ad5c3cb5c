// Who is in the cluster: the peers heard from within the peer timeout, each with the latest reset
// it is known to have taken (from its beats and acks) and its counters. Membership is learned on
// the bus alone (every peer beats every heartbeat), so it needs no server, and a peer that stops
// beating (killed, cut off, stalled) leaves it after the timeout.
import { compareStamps, type Stamp } from '../shared/memory/epoch.js'

interface Member {
  heard: number
  stamp: Stamp | undefined
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

  /**
   * A message from `peer`. Only a beat or a hello (`joins`) makes a peer a member: any other
   * message only keeps a member alive. True when the peer is new to the cluster.
   */
  heard(peer: string, now: number, joins: boolean): boolean {
    if (peer === this.#self) return false
    const member = this.#others.get(peer)
    if (member !== undefined) {
      member.heard = now
      return false
    }
    if (!joins) return false
    this.#others.set(peer, { heard: now, stamp: undefined, counters: [] })
    return true
  }

  /** `peer` has taken reset `stamp` (or a later one). */
  took(peer: string, stamp: Stamp): void {
    const member = this.#others.get(peer)
    if (member !== undefined && (member.stamp === undefined || compareStamps(stamp, member.stamp) > 0)) member.stamp = stamp
  }

  count(peer: string, counters: readonly number[]): void {
    const member = this.#others.get(peer)
    if (member !== undefined) member.counters = counters
  }

  leave(peer: string): boolean {
    return this.#others.delete(peer)
  }

  /** The peers not heard from within the timeout, removed. */
  expire(now: number): string[] {
    const gone: string[] = []
    for (const [peer, member] of this.#others) if (now - member.heard > this.#timeout) gone.push(peer)
    for (const peer of gone) this.#others.delete(peer)
    return gone
  }

  clear(): void {
    this.#others.clear()
  }

  /** Whether `peer` is another live peer. */
  has(peer: string): boolean {
    return this.#others.has(peer)
  }

  /** The other live peers. */
  others(): string[] {
    return [...this.#others.keys()]
  }

  /** Whether every other live peer has taken reset `stamp` or a later one. */
  allTook(stamp: Stamp): boolean {
    for (const member of this.#others.values()) if (member.stamp === undefined || compareStamps(member.stamp, stamp) < 0) return false
    return true
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
