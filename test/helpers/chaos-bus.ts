// A bus that misbehaves on purpose, wrapped around a real one (memoryBus, ipcBus, natsBus,
// redisBus): what each member of a topic receives may be dropped, delivered twice, held back
// (so that messages overtake each other) or delivered again seconds later, as a replay would.
// The faults are applied on the receiving side, in this process, so the wrapper works over any
// transport without knowing it; only members that joined through the wrapper suffer them.
// Every decision draws from `random`, which a campaign seeds; what it did is counted.
import type { Bus, BusMember } from 'coop-cache'

/** What the wrapper does to the messages a member receives. Every field is optional. */
export interface ChaosRule {
  /** The probability, 0 to 1, that a message is lost. @default 0 */
  readonly drop?: number
  /** The probability, 0 to 1, that a message is delivered a second time, after the first. @default 0 */
  readonly duplicate?: number
  /** The longest delay of a delivery, ms: each waits uniformly 0..delay, so messages reorder. @default 0 */
  readonly delay?: number
  /** The probability, 0 to 1, that a message is delivered again `replayAfter` ms after the first time. @default 0 */
  readonly replay?: number
  /** How long after the first delivery a replay comes, ms: one number, or [least, most] drawn uniformly. @default [1000, 3000] */
  readonly replayAfter?: number | readonly [number, number]
  /** Only these members (peer ids, as they joined) suffer the faults. @default every member */
  readonly peers?: readonly string[]
}

/** What the wrapper did so far, over all its members. */
export interface ChaosCounts {
  /** messages the inner bus handed to a member of the wrapper */
  readonly received: number
  /** deliveries to a member's receive callback, copies and replays included */
  readonly delivered: number
  readonly dropped: number
  /** deliveries held back by a delay (first deliveries and copies alike) */
  readonly delayed: number
  readonly duplicated: number
  readonly replayed: number
  /** deliveries lost because their member left before they were due */
  readonly lostToLeave: number
  /** deliveries scheduled and not yet made */
  readonly pending: number
}

export interface ChaosBus extends Bus {
  /** Replaces the rule; without an argument, no more faults (deliveries already held back still come). */
  faults(rule?: ChaosRule): void
  readonly counts: ChaosCounts
  /** Counts for one member only, by peer id. */
  countsOf(peer: string): ChaosCounts
  /**
   * Resolves with true when the wrapper holds nothing back any more (every delay, copy and replay
   * has come), or with false after `ms`. What the inner bus still carries is not its to know.
   */
  quiet(ms?: number): Promise<boolean>
}

export interface ChaosOptions {
  /** A source of numbers in [0, 1): give a seeded one to repeat a campaign's choices. @default Math.random */
  readonly random?: () => number
  /** The rule to start with. @default no faults */
  readonly rule?: ChaosRule
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }
const zero = (): Mutable<ChaosCounts> => ({ received: 0, delivered: 0, dropped: 0, delayed: 0, duplicated: 0, replayed: 0, lostToLeave: 0, pending: 0 })

/** Wraps `inner`: members that join through the result receive through the faults of its rule. */
export function chaosBus(inner: Bus, options: ChaosOptions = {}): ChaosBus {
  const random = options.random ?? Math.random
  let rule = checkRule(options.rule ?? {})
  const total = zero()
  const byPeer = new Map<string, Mutable<ChaosCounts>>()
  const timers = new Set<NodeJS.Timeout>()
  let idle: (() => void)[] = []

  const count = (peer: string, field: keyof ChaosCounts, n = 1) => {
    total[field] += n
    let mine = byPeer.get(peer)
    if (mine === undefined) byPeer.set(peer, (mine = zero()))
    mine[field] += n
  }
  const between = (range: number | readonly [number, number]) => (typeof range === 'number' ? range : range[0] + random() * (range[1] - range[0]))

  /** Calls `deliver` after `ms` (0: on a later turn, never inside the inner bus's callback). */
  function later(peer: string, ms: number, deliver: () => void): void {
    count(peer, 'pending')
    const timer = setTimeout(() => {
      timers.delete(timer)
      count(peer, 'pending', -1)
      deliver()
      if (total.pending === 0) {
        const waiting = idle
        idle = []
        for (const wake of waiting) wake()
      }
    }, ms)
    timer.unref()
    timers.add(timer)
  }

  return {
    networked: inner.networked,
    async join(topic, peer, receive) {
      let left = false
      const give = (bytes: Uint8Array) => {
        if (left) return count(peer, 'lostToLeave')
        count(peer, 'delivered')
        receive(bytes)
      }
      const arrive = (bytes: Uint8Array) => {
        count(peer, 'received')
        const r = rule
        if (r.peers !== undefined && !r.peers.includes(peer)) return give(bytes)
        if (random() < (r.drop ?? 0)) return count(peer, 'dropped')
        // each delivery gets its own copy, as a real bus gives: a receiver may write to what it got
        const first = (r.delay ?? 0) > 0 ? random() * (r.delay ?? 0) : 0
        if (first > 0) count(peer, 'delayed')
        const copy = new Uint8Array(bytes)
        if (first > 0) later(peer, first, () => give(copy))
        else give(copy)
        if (random() < (r.duplicate ?? 0)) {
          count(peer, 'duplicated')
          const again = first + 1 + random() * (r.delay ?? 0)
          later(peer, again, () => give(new Uint8Array(bytes)))
        }
        if (random() < (r.replay ?? 0)) {
          count(peer, 'replayed')
          later(peer, first + between(r.replayAfter ?? [1000, 3000]), () => give(new Uint8Array(bytes)))
        }
      }
      const joined: BusMember = await inner.join(topic, peer, arrive)
      return {
        broadcast: (message) => joined.broadcast(message),
        send: (to, message) => joined.send(to, message),
        async leave() {
          left = true
          await joined.leave()
        },
      }
    },
    faults(next) {
      rule = checkRule(next ?? {})
    },
    get counts() {
      return { ...total }
    },
    countsOf(peer) {
      return { ...(byPeer.get(peer) ?? zero()) }
    },
    quiet(ms = 10_000) {
      if (total.pending === 0) return Promise.resolve(true)
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), ms)
        idle.push(() => {
          clearTimeout(timer)
          resolve(true)
        })
      })
    },
  }
}

function checkRule(rule: ChaosRule): ChaosRule {
  if (typeof rule !== 'object' || rule === null) throw new TypeError('a chaos rule is an object: { drop?, duplicate?, delay?, replay?, replayAfter?, peers? }')
  for (const field of ['drop', 'duplicate', 'replay'] as const) {
    const p = rule[field]
    if (p !== undefined && !(typeof p === 'number' && p >= 0 && p <= 1)) throw new RangeError(`rule.${field} must be a probability between 0 and 1, not ${String(p)}`)
  }
  const ms = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0
  if (rule.delay !== undefined && !ms(rule.delay)) throw new RangeError(`rule.delay must be a finite number of ms >= 0, not ${String(rule.delay)}`)
  const after = rule.replayAfter
  if (after !== undefined && !(ms(after) || (Array.isArray(after) && after.length === 2 && after.every(ms) && after[0] <= after[1]))) {
    throw new RangeError('rule.replayAfter must be ms >= 0, or [least, most] ms')
  }
  if (rule.peers !== undefined && !(Array.isArray(rule.peers) && rule.peers.every((p) => typeof p === 'string'))) throw new TypeError('rule.peers must be an array of peer ids')
  // a copy: a test that changes its arrays afterwards does not change the faults silently
  return { ...rule, peers: rule.peers === undefined ? undefined : [...rule.peers], replayAfter: Array.isArray(after) ? ([after[0], after[1]] as const) : after }
}

/** A seeded source of numbers in [0, 1) (mulberry32): the same seed, the same choices. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
