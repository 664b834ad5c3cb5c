// A bus inside one process, for tests: caches joined to the same memoryBus() behave as peers of
// separate processes. Everything lives on the instance, so two tests never hear each other.
// It delivers later, never inside broadcast() or send(), since a real bus cannot call back into
// its sender either, and code that only works when it does would break on NATS. Faults (cuts,
// drops, delays) are injected on the bus so that a test can break the links a cache relies on.
import type { Bus, BusMember } from './bus.js'

/** Which messages a {@link MemoryBus} loses or holds back; see {@link MemoryBus.faults}. */
export interface FaultRule {
  /** The probability, from 0 to 1, that a message is dropped. @default 0 */
  readonly drop?: number
  /**
   * The longest delay of a message, in milliseconds: each one waits a uniformly random time
   * from 0 to this, so messages overtake each other. @default 0
   */
  readonly delay?: number
  /** Only messages from or to these peers suffer the faults. @default every peer */
  readonly peers?: readonly string[]
}

/** A {@link Bus} in one process, with faults to inject. Make one per test with {@link memoryBus}. */
export interface MemoryBus extends Bus {
  /** Cuts `peer` off: every message from or to it, on any topic, is dropped until {@link heal}. */
  cut(peer: string): void
  /** Ends a {@link cut} of `peer`. Messages dropped meanwhile stay lost. */
  heal(peer: string): void
  /** Replaces the fault rule with `rule`; without an argument, clears it. Cuts are kept. */
  faults(rule?: FaultRule): void
  /** How many messages were handed to a `receive` callback. */
  readonly delivered: number
  /** How many messages were lost: to a cut, a drop, or a peer that left or never was. */
  readonly dropped: number
}

interface Member {
  readonly peer: string
  readonly receive: (message: Uint8Array) => void
}

/** Options of {@link memoryBus}. */
export interface MemoryBusOptions {
  /**
   * The largest message its members can send, in bytes, as a broker may have one (NATS's
   * `max_payload`): a larger one is lost, and counted as dropped. The cache sends larger
   * messages in chunks (BusMember.maxMessage). @default no limit
   */
  readonly maxMessage?: number
}

/** Makes a bus whose peers are in this process. Several caches joined to it act as a cluster. */
export function memoryBus(options: MemoryBusOptions = {}): MemoryBus {
  const { maxMessage } = options ?? {}
  if (maxMessage !== undefined && !(Number.isSafeInteger(maxMessage) && maxMessage >= 1024)) {
    throw new RangeError(`options.maxMessage must be a whole number of bytes, at least 1024, got ${String(maxMessage)}`)
  }
  const topics = new Map<string, Set<Member>>()
  const cuts = new Set<string>()
  let rule: FaultRule = {}
  let delivered = 0
  let dropped = 0

  const isCut = (from: string, to: string) => cuts.has(from) || cuts.has(to)
  const faulty = (from: string, to: string) => rule.peers === undefined || rule.peers.includes(from) || rule.peers.includes(to)

  function post(topic: string, from: string, to: Member, bytes: Uint8Array): void {
    const hit = faulty(from, to.peer)
    if (isCut(from, to.peer) || bytes.byteLength > (maxMessage ?? Infinity) || (hit && Math.random() < (rule.drop ?? 0))) {
      dropped++
      return
    }
    // A copy per receiver, taken now: the sender may reuse its buffer, a receiver may write to its own.
    const copy = new Uint8Array(bytes)
    const arrive = () => {
      // A cut or a leave that happens while the message is on its way loses it too.
      if (isCut(from, to.peer) || topics.get(topic)?.has(to) !== true) dropped++
      else {
        delivered++
        to.receive(copy)
      }
    }
    const wait = hit ? Math.random() * (rule.delay ?? 0) : 0
    if (wait > 0) setTimeout(arrive, wait).unref()
    else setImmediate(arrive)
  }

  return {
    async join(topic, peer, receive) {
      if (typeof topic !== 'string') throw new TypeError('topic must be a string')
      if (typeof peer !== 'string') throw new TypeError('peer must be a string')
      if (typeof receive !== 'function') throw new TypeError('receive must be a function')
      const me: Member = { peer, receive }
      const members = topics.get(topic) ?? new Set()
      topics.set(topic, members.add(me))
      const here = () => members.has(me)
      const member: BusMember = {
        broadcast(message) {
          if (here()) for (const to of members) post(topic, peer, to, message)
        },
        send(to, message) {
          if (!here()) return
          const targets = [...members].filter((m) => m.peer === to)
          if (targets.length === 0) dropped++
          for (const m of targets) post(topic, peer, m, message)
        },
        async leave() {
          members.delete(me)
          if (members.size === 0 && topics.get(topic) === members) topics.delete(topic)
        },
        maxMessage,
      }
      return member
    },
    cut(peer) {
      cuts.add(checkPeer(peer, 'peer'))
    },
    heal(peer) {
      cuts.delete(checkPeer(peer, 'peer'))
    },
    faults(next) {
      rule = next === undefined ? {} : checkRule(next)
    },
    get delivered() {
      return delivered
    },
    get dropped() {
      return dropped
    },
  }
}

function checkPeer(peer: unknown, name: string): string {
  if (typeof peer !== 'string') throw new TypeError(`${name} must be a string (a peer id), not ${typeof peer}`)
  return peer
}

function checkRule(rule: FaultRule): FaultRule {
  if (typeof rule !== 'object' || rule === null) throw new TypeError('rule must be an object: { drop?, delay?, peers? }')
  const { drop, delay, peers } = rule
  if (drop !== undefined) {
    if (typeof drop !== 'number') throw new TypeError('rule.drop must be a number (a probability)')
    if (!(drop >= 0 && drop <= 1)) throw new RangeError(`rule.drop must be a probability between 0 and 1, not ${drop}`)
  }
  if (delay !== undefined) {
    if (typeof delay !== 'number') throw new TypeError('rule.delay must be a number (milliseconds)')
    if (!(delay >= 0 && Number.isFinite(delay))) throw new RangeError(`rule.delay must be a finite number of milliseconds >= 0, not ${delay}`)
  }
  if (peers !== undefined) {
    if (!Array.isArray(peers)) throw new TypeError('rule.peers must be an array of peer ids')
    peers.forEach((p, i) => checkPeer(p, `rule.peers[${i}]`))
  }
  // A copy, so that a test changing its array afterwards does not change the faults silently.
  return { drop, delay, peers: peers === undefined ? undefined : [...peers] }
}
