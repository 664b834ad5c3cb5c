// The floor of a remote hit: the bus's own round trip between two processes' main threads, with
// no cache on it. One member pings (a 16-byte message over `BusMember.send`), the other sends each
// ping straight back. Scenarios 7 and 8 (bench/cluster.ts, bench/peers.ts) set coop-cache's
// remote hits beside it.

import type { BusMember } from 'coop-cache'

/**
 * The pinging side: each ping carries its id in the first 4 bytes; byte 4 is 1 when it travels
 * "split": sent, and sent back, each in an event-loop task of its own (setImmediate), as the
 * peer agent sends each message on its own.
 */
export class Floor {
  readonly #pending = new Map<number, () => void>()
  readonly #to: string
  #id = 0
  member: BusMember | undefined

  /** `to`: the member id of the echoing side */
  constructor(to: string) {
    this.#to = to
  }

  readonly receive = (bytes: Uint8Array): void => {
    const id = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0)
    const resolve = this.#pending.get(id)
    this.#pending.delete(id)
    resolve?.()
  }

  ping(split = false): Promise<void> {
    const id = ++this.#id
    const bytes = new Uint8Array(16)
    new DataView(bytes.buffer).setUint32(0, id)
    bytes[4] = split ? 1 : 0
    return new Promise<void>((resolve) => {
      this.#pending.set(id, resolve)
      if (split) setImmediate(() => this.member!.send(this.#to, bytes))
      else this.member!.send(this.#to, bytes)
    })
  }
}

/** The echoing side: sends each ping back to `to`, straight away, or from a task of its own if split. */
export function echo(member: () => BusMember, to: string): (bytes: Uint8Array) => void {
  return (bytes) => {
    if (bytes[4] === 1) setImmediate(() => member().send(to, bytes))
    else member().send(to, bytes)
  }
}
