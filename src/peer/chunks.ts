// Envelopes too large for the bus, in chunks. A broker has a largest message (NATS's max_payload,
// 1 MiB by default; Redis closes a subscriber with 32 MB waiting for it): a larger one is lost,
// every time it is sent again, and a value larger than that never crossed: each process that
// wanted it waited out its ask, then computed it again. So the agent cuts such an envelope, as
// sealed, into chunks that fit (wire.ts Chunk), each a message of its own, and the recipient
// puts them together and opens the envelope as if it had come whole: the seal and the checks of
// every message in it are those of any envelope.
//
// The bus may lose a chunk, or deliver one twice or late: a group that no chunk has reached for
// the peer timeout is dropped, and whatever it carried is asked for again as if it had been lost
// whole. What the chunks hold is held here until then, so it is bounded: no more bytes at once
// than the largest envelope the process would take (its memoryLimit, and room for the rest),
// a group's own bookkeeping counted (else a flood of one-byte chunks of groups of 2,048 would
// hold a table of 2,048 slots each), the oldest groups dropped first to make room, and a group
// that could never fit refused.
//
// Nor may the chunks go all at once: Redis closes a subscriber with 32 MB waiting for it however
// they are cut (40 chunks of 1 MiB published together: the subscriber was closed after 3), and a
// NATS server may drop a client it cannot write to fast enough. So the recipient answers each chunk with how many of the
// group it holds (wire.ts Chunked), and the sender keeps no more than a window of chunks ahead
// of the slowest recipient that still answers (Sending): the recipients, and its own
// subscription, which hears its broadcasts, read no more at once than that.

/** What a chunk taken in makes: how many of its group are held, and the envelope once whole. */
export interface Taken {
  readonly got: number
  readonly whole: Uint8Array | undefined
}

interface Group {
  readonly of: number
  readonly parts: (Uint8Array | undefined)[]
  got: number
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

export class Chunks {
  readonly #limit: number
  readonly #timeout: number
  /** groups under way, by sender and group number, oldest first (a Map keeps the order they began in) */
  readonly #groups = new Map<string, Group>()
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
    let group = this.#groups.get(name)
    if (group === undefined) {
      const cost = groupCost(of)
      if (!this.#room(cost, undefined)) return `its group's ${of} chunks do not fit in ${this.#limit} bytes`
      group = { of, parts: new Array<Uint8Array | undefined>(of).fill(undefined), got: 0, last: now, cost }
      this.#groups.set(name, group)
      this.#held += cost
    } else if (group.of !== of) return this.#refuse(name, group, `it is chunk ${x} of ${of}, of a group of ${group.of}`)
    if (group.parts[x] !== undefined) return { got: group.got, whole: undefined }
    // Every chunk but the last is as large as this one: a group that cannot fit is refused now.
    if (x < of - 1 && bytes.byteLength * (of - 1) + group.cost > this.#limit) return this.#refuse(name, group, `its group of ${of} chunks of ${bytes.byteLength} bytes is larger than ${this.#limit} bytes`)
    if (!this.#room(bytes.byteLength, group)) return this.#refuse(name, group, `its group is larger than ${this.#limit} bytes`)
    // Held as its own bytes: a view would keep the whole message it came in alive.
    group.parts[x] = new Uint8Array(bytes)
    group.got++
    group.last = now
    group.cost += bytes.byteLength
    this.#held += bytes.byteLength
    if (group.got < of) return { got: group.got, whole: undefined }
    this.#drop(name, group)
    const whole = new Uint8Array(group.cost - groupCost(of))
    let at = 0
    for (const part of group.parts as Uint8Array[]) {
      whole.set(part, at)
      at += part.byteLength
    }
    return { got: of, whole }
  }

  /** Drops the groups that no new chunk reached within the timeout before `now`: a slow one that goes on is kept. */
  expire(now: number): void {
    for (const [name, group] of this.#groups) if (now - group.last > this.#timeout) this.#drop(name, group)
  }

  /** Makes room for `bytes` more in `group` (or a new one), dropping the oldest other groups; false if it cannot. */
  #room(bytes: number, group: Group | undefined): boolean {
    if ((group?.cost ?? 0) + bytes > this.#limit) return false
    for (const [name, other] of this.#groups) {
      if (this.#held + bytes <= this.#limit) break
      if (other !== group) this.#drop(name, other)
    }
    return this.#held + bytes <= this.#limit
  }

  #refuse(name: string, group: Group, why: string): string {
    this.#drop(name, group)
    return why
  }

  #drop(name: string, group: Group): void {
    if (this.#groups.get(name) !== group) return
    this.#groups.delete(name)
    this.#held -= group.cost
  }
}

/** How many bytes of chunks a sender keeps ahead of the slowest recipient (see the top). */
export const WINDOW_BYTES = 8 * 1024 * 1024

/**
 * One envelope on its way in chunks: `send(x)` sends chunk x, no more than the window ahead of
 * what the slowest of `waiting` (the recipients, and this process for a broadcast) said it holds.
 * A recipient that leaves, or holds all, is no longer waited for; one that says nothing more for
 * the peer timeout stalls it, and it is given up (the envelope is lost, as a whole one may be).
 */
export class Sending {
  readonly #of: number
  readonly #window: number
  readonly #send: (x: number) => void
  readonly #waiting: Set<string>
  readonly #got = new Map<string, number>()
  #next = 0
  #progressAt: number

  constructor(of: number, size: number, waiting: Iterable<string>, now: number, send: (x: number) => void) {
    this.#of = of
    this.#window = Math.max(2, Math.floor(WINDOW_BYTES / size))
    this.#waiting = new Set(waiting)
    this.#progressAt = now
    this.#send = send
    this.#pump()
  }

  /** Every chunk sent, and no recipient waited for. */
  get done(): boolean {
    return this.#next >= this.#of && this.#waiting.size === 0
  }

  /** `peer` holds `got` chunks (a count only grows: a late answer says less than one before). */
  acked(peer: string, got: number, now: number): void {
    if (!this.#waiting.has(peer) || got <= (this.#got.get(peer) ?? 0)) return
    this.#got.set(peer, got)
    this.#progressAt = now
    if (got >= this.#of) this.#waiting.delete(peer)
    this.#pump()
  }

  /** Waits no more for the recipients `live` says are gone. */
  keep(live: (peer: string) => boolean): void {
    for (const peer of this.#waiting) if (!live(peer)) this.#waiting.delete(peer)
    this.#pump()
  }

  /** Nothing heard from the recipients for `timeout` ms. */
  stalled(now: number, timeout: number): boolean {
    return now - this.#progressAt > timeout
  }

  #pump(): void {
    let least = Infinity
    for (const peer of this.#waiting) least = Math.min(least, this.#got.get(peer) ?? 0)
    while (this.#next < this.#of && this.#next - least < this.#window) this.#send(this.#next++)
  }
}
