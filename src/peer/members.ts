// Who is in the cluster: the peers heard from within the peer timeout, each with the latest reset
// it is known to have taken (from its beats and acks) and its counters. Membership is learned on
// the bus alone (every peer beats every heartbeat), so it needs no server, and a peer that stops
// beating (killed, cut off, stalled) leaves it after the timeout.
//
// Each process has its own heartbeat and peer timeout, and a cluster may run with two (a deploy
// that changes them reaches the processes one at a time). A peer serves until its own timeout
// after it last heard itself: so it is counted out no sooner than that, and whatever waits for
// the peers that did not answer (a reset, a change) waits for the longest timeout and heartbeat
// heard. A peer's are honoured up to a bound (see Members.bound), so that one message cannot
// make the cluster wait for days.
import { compareStamps, type Stamp } from '../shared/memory/epoch.js'

/** A process's heartbeat and peer timeout, ms, as its beats and hellos say them (wire.ts). */
export interface Timing {
  readonly heartbeat: number
  readonly peerTimeout: number
}

interface Member {
  heard: number
  stamp: Stamp | undefined
  counters: readonly number[]
  /** its own peer timeout, as honoured */
  readonly own: number
}

/** What Relays asks of the members: how long a peer's request lasts unrenewed, and how long that peer waits for an answer. */
export interface PeerTimeouts {
  timeoutOf(peer: string): number
  ownTimeoutOf(peer: string): number
}

export class Members implements PeerTimeouts {
  readonly #self: string
  readonly #own: Timing
  readonly #bound: number
  #widest: Timing
  readonly #others = new Map<string, Member>()

  constructor(self: string, own: Timing) {
    this.#self = self
    this.#own = own
    this.#bound = Members.bound(own)
    this.#widest = own
  }

  /**
   * The longest peer timeout of a peer's that a process with `own` honours: four times its own,
   * room for a deploy that changes it. A peer that says more is taken at this, and its heartbeat
   * at no more than half its timeout, as any process's is (options.ts): a forged hello could
   * otherwise make every reset that its sender does not answer wait for days.
   */
  static bound(own: Timing): number {
    return 4 * own.peerTimeout
  }

  /**
   * A message from `peer`. Only a beat or a hello (`timing`: the sender's own) makes a peer a
   * member: any other message only keeps a member alive. True when the peer is new to the
   * cluster.
   */
  heard(peer: string, now: number, timing?: Timing): boolean {
    if (peer === this.#self) return false
    const member = this.#others.get(peer)
    if (member !== undefined) {
      member.heard = now
      return false
    }
    if (timing === undefined) return false
    const peerTimeout = Math.min(timing.peerTimeout, this.#bound)
    const heartbeat = Math.min(timing.heartbeat, Math.floor(peerTimeout / 2))
    this.#widest = { heartbeat: Math.max(this.#widest.heartbeat, heartbeat), peerTimeout: Math.max(this.#widest.peerTimeout, peerTimeout) }
    this.#others.set(peer, { heard: now, stamp: undefined, counters: [], own: peerTimeout })
    return true
  }

  /**
   * The longest heartbeat and the longest peer timeout of this process's and of every peer's
   * heard since it started, as honoured: a peer that has left may still serve, and one that comes
   * back is likely to have the same.
   */
  widest(): Timing {
    return this.#widest
  }

  /** How long `peer` may go unheard before it is counted out (this process's peer timeout for one not a member). */
  timeoutOf(peer: string): number {
    return this.#silenceOf(this.#others.get(peer))
  }

  /** A member's own peer timeout, if longer than this process's: no sooner is it counted out. */
  #silenceOf(member: Member | undefined): number {
    return Math.max(this.#own.peerTimeout, member?.own ?? 0)
  }

  /** `peer`'s own peer timeout, as honoured (this process's for one not a member). */
  ownTimeoutOf(peer: string): number {
    return this.#others.get(peer)?.own ?? this.#own.peerTimeout
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

  /** The peers not heard from within their timeout, removed. */
  expire(now: number): string[] {
    const gone: string[] = []
    for (const [peer, member] of this.#others) if (now - member.heard > this.#silenceOf(member)) gone.push(peer)
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
