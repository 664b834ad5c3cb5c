// A member of a cache's topic that is not a cache: it speaks the wire protocol by hand, so a test
// can send what a broken or hostile peer would — well-formed lies, garbage, replays — and read
// what the real peers send. With the cluster's secret it can also forge messages that pass the
// envelope, to show what only the secret keeps out.
import { randomUUID } from 'node:crypto'
import { deserialize, serialize } from 'node:v8'
import type { Bus, BusMember } from 'coop-cache'
import { Seal, unchecked } from '../../src/peer/seal.js'
import type { Outgoing } from '../../src/peer/wire.js'

/** A message as the rogue hears it: the payload, deserialized, when it parses. */
export type Heard = Record<string, unknown> & { t?: string; f?: string; to?: string }

export interface RogueOptions {
  /** its peer id @default a random UUID */
  readonly id?: string
  /** keys to sign with, as createCache's `secret` takes them; none: unsigned */
  readonly secret?: readonly (string | Uint8Array)[]
}

export class Rogue {
  readonly id: string
  readonly name: string
  readonly heard: Heard[] = []
  readonly #seal: Seal
  #member: BusMember | undefined
  #sequence = 0

  private constructor(id: string, name: string, seal: Seal) {
    this.id = id
    this.name = name
    this.#seal = seal
  }

  /** Joins `bus` on cache `name`'s topic. */
  static async join(bus: Bus, name: string, options: RogueOptions = {}): Promise<Rogue> {
    const keys = (options.secret ?? []).map((k) => (typeof k === 'string' ? new TextEncoder().encode(k) : k))
    const rogue = new Rogue(options.id ?? `rogue-${randomUUID()}`, name, new Seal(name, keys))
    rogue.#member = await bus.join(name, rogue.id, (bytes) => rogue.#hear(bytes))
    return rogue
  }

  #hear(bytes: Uint8Array): void {
    // Read as anyone on the bus can: a seal does not hide.
    const payload = unchecked(bytes)
    if (payload === undefined) return
    try {
      const read: unknown = deserialize(payload)
      // an envelope of several messages (a sender's turn): each is heard
      for (const message of Array.isArray(read) ? read : [read]) this.heard.push(message as Heard)
    } catch {
      // not a message anyone could read
    }
  }

  /**
   * The envelope of `message`, numbered and timed as the rogue's next message, unless
   * `envelope` says otherwise (another sender, number, clock or cache).
   */
  envelope(message: Outgoing | Record<string, unknown>, to = '', envelope: Envelope = {}): Uint8Array {
    const payload = serialize({ c: this.name, f: this.id, q: ++this.#sequence, ts: Date.now(), to, ...envelope, ...message })
    return this.#seal.seal(payload)
  }

  /** Sends `message` to peer `to`. */
  send(to: string, message: Outgoing | Record<string, unknown>, envelope?: Envelope): void {
    this.#member?.send(to, this.envelope(message, to, envelope))
  }

  /** Sends `message` to every member. */
  broadcast(message: Outgoing | Record<string, unknown>, envelope?: Envelope): void {
    this.#member?.broadcast(this.envelope(message, '', envelope))
  }

  /** Sends bytes as they are, to `to` or to all. */
  raw(bytes: Uint8Array, to?: string): void {
    if (to === undefined) this.#member?.broadcast(bytes)
    else this.#member?.send(to, bytes)
  }

  /** The messages heard so far of type `t`. */
  of(t: string): Heard[] {
    return this.heard.filter((m) => m.t === t)
  }

  async leave(): Promise<void> {
    await this.#member?.leave()
  }
}

/** What a rogue may set in a message's envelope: another cache, sender, number or clock. */
export type Envelope = Partial<{ c: string; f: string; q: number; ts: number }>
