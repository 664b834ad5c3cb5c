// Envelopes too large for the bus, in chunks. A broker has a largest message (NATS's max_payload,
// 1 MiB by default; Redis closes a subscriber with 32 MB waiting for it): a larger one is lost,
// every time it is sent again, and a value larger than that never crossed: each process that
// wanted it waited out its ask, then computed it again. So the agent cuts such an envelope, as
// sealed, into chunks that fit (wire.ts Chunk), each a message of its own, and the recipient
// puts them together and opens the envelope as if it had come whole: the seal and the checks of
// every message in it are those of any envelope.
//
// The bus may lose a chunk, or deliver one twice or late. The recipient's answer to each chunk
// says the first chunk it still lacks, and a sender that hears no more progress from a
// recipient for a while sends that one again (Sending#repair): a lost chunk
// costs a round trip, not the whole value again after the asker's renewal (with 5% of messages
// lost, a 1 MiB value in 17 chunks took up to 17 s to cross, and a call missed its 20 s bound
// in CI). A group that is over (whole, refused, dropped) is remembered for a while, so that a
// chunk sent again after its end is answered as all held, not begun anew. A group that no chunk
// has reached for the peer timeout is dropped, and whatever it carried is asked for again as if
// it had been lost whole. What the chunks hold is held here until then, so it is bounded: no
// more bytes at once than the largest envelope the process would take (its memoryLimit, and
// room for the rest), a group's own bookkeeping counted (else a flood of one-byte chunks of
// groups of 2,048 would hold a table of 2,048 slots each), the oldest groups dropped first to
// make room, and a group that could never fit refused.
//
// Nor may the chunks go all at once: Redis closes a subscriber with 32 MB waiting for it however
// they are cut (40 chunks of 1 MiB published together: the subscriber was closed after 3), and a
// NATS server may drop a client it cannot write to fast enough. So the recipient answers each chunk with how many of the
// group it holds (wire.ts Chunked), and the sender keeps no more than a window of chunks ahead
// of the slowest recipient that still answers (Sending): the recipients, and its own
// subscription, which hears its broadcasts, read no more at once than that.

/**
 * What a chunk taken in makes: how many of its group are held, the first it lacks, and the
 * envelope once whole. A chunk of a group already over says `got` and `next` of all held, and
 * no `whole`.
 */
export interface Taken {
  readonly got: number
  readonly next: number
  readonly whole: Uint8Array | undefined
}

interface Group {
  readonly of: number
  readonly parts: (Uint8Array | undefined)[]
  got: number
  /** the first chunk it lacks */
  next: number
  /** when its last new chunk came */
  last: number
  /** what it holds: its chunks' bytes and its bookkeeping (groupCost) */
  cost: number
}

/** What a group of `of` chunks holds beside its chunks' bytes: its record, and a slot per chunk. */
export const groupCost = (of: number): number => 128 + 8 * of

/** The chunks of `envelope`, in order, each at most `size` bytes. */
export function cut(envelope: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = []
  for (let at = 0; at < envelope.byteLength; at += size) chunks.push(envelope.subarray(at, Math.min(at + size, envelope.byteLength)))
  return chunks
}

/** How many groups that are over a recipient remembers at most (see Chunks#over), the oldest forgotten first. */
export const OVER_MAX = 4096

export class Chunks {
  readonly #limit: number
  readonly #timeout: number
  /** groups under way, by sender and group number, oldest first (a Map keeps the order they began in) */
  readonly #groups = new Map<string, Group>()
  /**
   * Groups that are over (whole, refused or dropped), by name, and when, oldest first: a chunk
   * of one sent again (its answer was lost, or crossed the resend) is not taken as a new group,
   * which would hold its bytes for the timeout, and, were it all sent again, open the envelope twice.
   */
  readonly #over = new Map<string, number>()
  #held = 0

  /** At most `limit` bytes held at once; a group that no chunk reaches for `timeout` ms is dropped. */
  constructor(limit: number, timeout: number) {
    this.#limit = limit
    this.#timeout = timeout
  }

  /** What the groups under way hold: their chunks' bytes, and their bookkeeping. */
  get held(): number {
    return this.#held
  }

  /** How many groups are under way. */
  get groups(): number {
    return this.#groups.size
  }

  /**
   * Chunk `x` of `of` of group `g` from `from`, heard at `now` (monotonic ms): how many chunks
   * of the group are held, and the envelope once its last one has come; or why the chunk is
   * refused (it contradicts its group, or the group cannot fit).
   */
  take(from: string, g: number, x: number, of: number, bytes: Uint8Array, now: number): Taken | string {
    if (x >= of) return `it is chunk ${x} of ${of}`
    const name = `${from}\u0000${g}`
    if (this.#over.has(name)) return { got: of, next: of, whole: undefined }
    let group = this.#groups.get(name)
    if (group === undefined) {
      const cost = groupCost(of)
      if (!this.#room(cost, undefined, now)) return this.#refuse(name, undefined, `its group's ${of} chunks do not fit in ${this.#limit} bytes`, now)
      group = { of, parts: new Array<Uint8Array | undefined>(of).fill(undefined), got: 0, next: 0, last: now, cost }
      this.#groups.set(name, group)
      this.#held += cost
    } else if (group.of !== of) return this.#refuse(name, group, `it is chunk ${x} of ${of}, of a group of ${group.of}`, now)
    if (group.parts[x] !== undefined) return { got: group.got, next: group.next, whole: undefined }
    // Every chunk but the last is as large as this one: a group that cannot fit is refused now.
    if (x < of - 1 && bytes.byteLength * (of - 1) + group.cost > this.#limit) return this.#refuse(name, group, `its group of ${of} chunks of ${bytes.byteLength} bytes is larger than ${this.#limit} bytes`, now)
    if (!this.#room(bytes.byteLength, group, now)) return this.#refuse(name, group, `its group is larger than ${this.#limit} bytes`, now)
    // Held as its own bytes: a view would keep the whole message it came in alive.
    const parts = group.parts
    parts[x] = new Uint8Array(bytes)
    group.got++
    while (group.next < of && parts[group.next] !== undefined) group.next++
    group.last = now
    group.cost += bytes.byteLength
    this.#held += bytes.byteLength
    if (group.got < of) return { got: group.got, next: group.next, whole: undefined }
    this.#drop(name, group, now)
    const whole = new Uint8Array(group.cost - groupCost(of))
    let at = 0
    for (const part of group.parts as Uint8Array[]) {
      whole.set(part, at)
      at += part.byteLength
    }
    return { got: of, next: of, whole }
  }

  /**
   * Drops the groups that no new chunk reached within the timeout before `now`: a slow one that
   * goes on is kept. Forgets the groups over for twice that: their senders gave up on them.
   */
  expire(now: number): void {
    for (const [name, group] of this.#groups) if (now - group.last > this.#timeout) this.#drop(name, group, now)
    for (const [name, at] of this.#over) {
      if (now - at <= 2 * this.#timeout) break
      this.#over.delete(name)
    }
  }

  /** Makes room for `bytes` more in `group` (or a new one), dropping the oldest other groups; false if it cannot. */
  #room(bytes: number, group: Group | undefined, now: number): boolean {
    if ((group?.cost ?? 0) + bytes > this.#limit) return false
    for (const [name, other] of this.#groups) {
      if (this.#held + bytes <= this.#limit) break
      if (other !== group) this.#drop(name, other, now)
    }
    return this.#held + bytes <= this.#limit
  }

  #refuse(name: string, group: Group | undefined, why: string, now: number): string {
    if (group === undefined) this.#end(name, now)
    else this.#drop(name, group, now)
    return why
  }

  #drop(name: string, group: Group, now: number): void {
    if (this.#groups.get(name) !== group) return
    this.#groups.delete(name)
    this.#held -= group.cost
    this.#end(name, now)
  }

  /** Group `name` is over at `now`. */
  #end(name: string, now: number): void {
    this.#over.delete(name)
    this.#over.set(name, now)
    if (this.#over.size > OVER_MAX) this.#over.delete(this.#over.keys().next().value as string)
  }
}

/** How many bytes of chunks a sender keeps ahead of the slowest recipient (see the top). */
export const WINDOW_BYTES = 8 * 1024 * 1024

/** What a sender knows of one recipient of its chunks. */
interface Recipient {
  /** how many chunks it said it holds */
  got: number
  /** the first chunk it said it lacks */
  next: number
  /** when it last said it holds more */
  at: number
  /** the chunk last sent again to it (-1: none), when, and how long to wait before the next */
  resent: number
  resentAt: number
  backoff: number
}

/**
 * One envelope on its way in chunks: `send(x)` sends chunk x to all its recipients, no more than
 * the window ahead of what the slowest of them (the recipients, and this process for a
 * broadcast) said it holds; `send(x, peer)` sends it again to one. A recipient that leaves, or
 * holds all, is no longer waited for; one that falls silent is sent the first chunk it lacks
 * again (repair); one that says nothing more for the peer timeout stalls it, and it is given up
 * (the envelope is lost, as a whole one may be).
 *
 * A chunk goes again one at a time, after a silence, or once the recipient says it took the one
 * sent before: a recipient that is slow rather than short of a chunk (its thread busy, the bus
 * behind) is sent one more for each silence, not more than it can read (Redis closes a
 * subscriber with 32 MB waiting for it). Each silence in a row doubles the wait for the next,
 * up to a bound under the asker's renewal: past that, the asker would take the chunks for lost,
 * and have the whole value sent again.
 */
export class Sending {
  readonly #of: number
  readonly #window: number
  readonly #send: (x: number, peer?: string) => void
  readonly #waiting = new Map<string, Recipient>()
  #next = 0
  #progressAt: number

  constructor(of: number, size: number, waiting: Iterable<string>, now: number, send: (x: number, peer?: string) => void) {
    this.#of = of
    this.#window = Math.max(2, Math.floor(WINDOW_BYTES / size))
    for (const peer of waiting) this.#waiting.set(peer, { got: 0, next: 0, at: now, resent: -1, resentAt: 0, backoff: 0 })
    this.#progressAt = now
    this.#send = send
    this.#pump()
  }

  /** Every chunk sent, and no recipient waited for. */
  get done(): boolean {
    return this.#next >= this.#of && this.#waiting.size === 0
  }

  /**
   * `peer` holds `got` chunks, and lacks chunk `next` (a count only grows: a late answer says
   * less than one before). One that took the chunk sent to it again and holds chunks past the
   * next it lacks, which was then lost too, is sent that one at once. Not one that holds just the
   * chunks before it: that may be a recipient reading the first chunks late, not one short of any.
   */
  acked(peer: string, got: number, next: number, now: number): void {
    const recipient = this.#waiting.get(peer)
    if (recipient === undefined || got <= recipient.got) return
    recipient.got = got
    recipient.next = Math.min(next, got)
    recipient.at = now
    recipient.backoff = 0
    this.#progressAt = now
    if (got >= this.#of) this.#waiting.delete(peer)
    else if (recipient.resent >= 0 && recipient.next > recipient.resent && got > recipient.next) this.#resend(peer, recipient, now)
    this.#pump()
  }

  /** Waits no more for the recipients `live` says are gone. */
  keep(live: (peer: string) => boolean): void {
    for (const peer of this.#waiting.keys()) if (!live(peer)) this.#waiting.delete(peer)
    this.#pump()
  }

  /**
   * Sends each recipient that has said nothing more for `after` ms (and nothing more since a
   * chunk went again to it, for twice as long each time, up to `most`) the first chunk it
   * lacks: whether all went or not, as the window waits on what the slowest says, and what was
   * lost (its connection to the broker killed, the answers with it) would otherwise hold it
   * until the group is given up. `self`, this process's own subscription, is waited for only to
   * pace the chunks, and hears them on the connection that brings the recipients' answers:
   * silent, it is waited for no longer.
   */
  repair(now: number, after: number, most: number, self: string): void {
    for (const [peer, recipient] of this.#waiting) {
      if (now - recipient.at <= after) continue
      if (peer === self) this.#waiting.delete(peer)
      else if (recipient.resent < 0 || now - recipient.resentAt > recipient.backoff) {
        recipient.backoff = Math.min(most, Math.max(after, 2 * recipient.backoff))
        this.#resend(peer, recipient, now)
      }
    }
    this.#pump()
  }

  /** Nothing heard from the recipients for `timeout` ms. */
  stalled(now: number, timeout: number): boolean {
    return now - this.#progressAt > timeout
  }

  #resend(peer: string, recipient: Recipient, now: number): void {
    recipient.resent = recipient.next
    recipient.resentAt = now
    this.#send(recipient.next, peer)
  }

  #pump(): void {
    let least = Infinity
    for (const recipient of this.#waiting.values()) least = Math.min(least, recipient.got)
    while (this.#next < this.#of && this.#next - least < this.#window) this.#send(this.#next++)
  }
}
