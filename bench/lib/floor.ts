// The floor of a remote hit: the bus's own round trip between two processes' main threads, with
// no cache on it. One member pings (a 16-byte message over `BusMember.send`), the other sends each
// ping straight back. Scenarios 7 and 8 (bench/cluster.ts, bench/peers.ts) set coop-cache's
// remote hits beside it.

import type { BusMember } from 'coop-cache'

/** Byte 5 of a ping broadcast to all (Floor#pingAll), and of an answer to one. */
const FAN_PING = 2
const FAN_PONG = 3

/**
 * The pinging side: each ping carries its id in the first 4 bytes; byte 4 is 1 when it travels
 * "split": sent, and sent back, each in an event-loop task of its own (setImmediate), as the
 * peer agent sent each message before it batched them (an anatomy row: what batching is worth).
 */
export class Floor {
  /** per ping id: what to call when its last expected pong is in, and how many are still to come */
  readonly #pending = new Map<number, { resolve: () => void; left: number }>()
  readonly #to: string
  #id = 0
  member: BusMember | undefined

  /** `to`: the member id of the echoing side */
  constructor(to: string) {
    this.#to = to
  }

  readonly receive = (bytes: Uint8Array): void => {
    // A broadcast ping comes back to its sender too: only answers count.
    if (bytes[5] === FAN_PING) return
    const id = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0)
    const pending = this.#pending.get(id)
    if (pending === undefined || --pending.left > 0) return
    this.#pending.delete(id)
    pending.resolve()
  }

  ping(split = false): Promise<void> {
    const id = ++this.#id
    const bytes = new Uint8Array(16)
    new DataView(bytes.buffer).setUint32(0, id)
    bytes[4] = split ? 1 : 0
    return new Promise<void>((resolve) => {
      this.#pending.set(id, { resolve, left: 1 })
      if (split) setImmediate(() => this.member!.send(this.#to, bytes))
      else this.member!.send(this.#to, bytes)
    })
  }

  /**
   * One ping broadcast to every member of the topic, resolved when `answers` of them have sent it
   * back: the bus's part of anything one process must hear back from all the others about, such
   * as a reset that resolves once every live peer has acknowledged it.
   */
  pingAll(answers: number): Promise<void> {
    const id = ++this.#id
    const bytes = new Uint8Array(16)
    new DataView(bytes.buffer).setUint32(0, id)
    bytes[5] = FAN_PING
    return new Promise<void>((resolve) => {
      this.#pending.set(id, { resolve, left: answers })
      this.member!.broadcast(bytes)
    })
  }
}

/** The echoing side: sends each ping back to `to`, straight away, or from a task of its own if split; answers a broadcast ping as such. */
export function echo(member: () => BusMember, to: string): (bytes: Uint8Array) => void {
  return (bytes) => {
    if (bytes[5] === FAN_PING) {
      const answer = Uint8Array.from(bytes)
      answer[5] = FAN_PONG
      return member().send(to, answer)
    }
    if (bytes[4] === 1) setImmediate(() => member().send(to, bytes))
    else member().send(to, bytes)
  }
}
