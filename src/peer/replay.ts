// Each message is taken once. Every sender numbers its messages (wire.ts: `q`, from 1, per
// incarnation); a receiver keeps, per sender, the highest number seen and which of the WINDOW
// numbers below it it has seen, so that a duplicate, or a message replayed later, is refused
// while reordering within the window is not. A sender first heard of is believed only if its
// clock (`ts`) is within `window` ms of this one's; a sender none of whose messages was taken
// for that long is forgotten, and its old messages, replayed, fail that test.
//
// With a secret (seal.ts) nobody but the cluster can make a new number or a new clock, so
// nothing can be replayed at all. Without one, anybody can, and the numbers only spare the
// cluster duplicates: a number more than the window ahead of the highest is then taken without
// moving the window, so that one message in a peer's name numbered far ahead cannot make every
// later message of that peer look like a replay, and cut it off for good.
export const WINDOW = 4096
const MAX_SENDERS = 4096

interface Sender {
  top: number
  readonly seen: Uint32Array
  heard: number
}

export class Replays {
  readonly #window: number
  readonly #strict: boolean
  readonly #senders = new Map<string, Sender>()

  /** `strict`: the messages are signed, so a number far behind can only be a replay. */
  constructor(windowMs: number, strict: boolean) {
    this.#window = windowMs
    this.#strict = strict
  }

  /** Whether message `q` of sender `f`, sent at `ts`, is heard for the first time (and now counts as heard). */
  accept(f: string, q: number, ts: number, now: number): boolean {
    const sender = this.#senders.get(f)
    if (sender === undefined) {
      if (Math.abs(now - ts) > this.#window || this.#senders.size >= MAX_SENDERS) return false
      const fresh: Sender = { top: q, seen: new Uint32Array(WINDOW / 32), heard: now }
      mark(fresh.seen, q)
      this.#senders.set(f, fresh)
      return true
    }
    // Unsigned, a number beyond the window either way may be anybody's: it is taken, but moves
    // nothing, nor keeps the sender remembered (whose real messages, if they are the ones beyond
    // the window, make it forgotten and met afresh once the window has passed).
    const beyond = q - sender.top >= WINDOW || sender.top - q >= WINDOW
    if (beyond && !this.#strict) return true
    if (q > sender.top) {
      if (beyond) sender.seen.fill(0)
      else for (let n = sender.top + 1; n < q; n++) unmark(sender.seen, n)
      sender.top = q
    } else if (beyond || marked(sender.seen, q)) return false
    mark(sender.seen, q)
    sender.heard = now
    return true
  }

  /** Forgets the senders none of whose messages was taken within the window. */
  prune(now: number): void {
    for (const [f, sender] of this.#senders) if (now - sender.heard > this.#window) this.#senders.delete(f)
  }
}

const bit = (q: number) => 1 << (q % 32)
const word = (q: number) => Math.floor(q / 32) % (WINDOW / 32)
const mark = (seen: Uint32Array, q: number) => void (seen[word(q)] = (seen[word(q)] as number) | bit(q))
const unmark = (seen: Uint32Array, q: number) => void (seen[word(q)] = (seen[word(q)] as number) & ~bit(q))
const marked = (seen: Uint32Array, q: number) => ((seen[word(q)] as number) & bit(q)) !== 0
