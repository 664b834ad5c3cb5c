// What a cache needs from a message bus, and nothing more: a topic per cache that every peer
// hears, and a way to reach one peer. Each transport is a file beside this one, loaded only
// when imported, so a user of one never installs the client of another.
//
// Delivery is at most once, in no promised order, as core NATS and Redis pub/sub give it: the
// cache's protocol (src/peer/) survives lost, late and repeated messages. A bus only moves bytes.

/** A message bus between the processes of a cluster: give one to `createCache({ bus })`. */
export interface Bus {
  /**
   * Joins `topic` as `peer`. From then on `receive` gets every message broadcast on the topic
   * (this peer's own broadcasts included: hearing them tells the cache its link to the bus
   * works) and every message sent to `peer` on this topic. Rejects when the bus cannot be
   * reached, with an error that says where it tried.
   */
  join(topic: string, peer: string, receive: (message: Uint8Array) => void): Promise<BusMember>
  /**
   * True for a bus that goes through a broker (NATS, Redis), which clients other than this
   * cluster's processes may be able to publish to: anyone who can reach the broker can forge
   * messages, unless the broker's own access control stops them. A cache on such a bus
   * without a `secret` warns once. Absent or false for a bus that only this cluster's
   * processes can reach (memory, IPC).
   */
  readonly networked?: boolean
}

/** One peer's membership of a topic on a bus. */
export interface BusMember {
  /** Sends to every peer on the topic, this one included. Never throws; a lost message is lost. */
  broadcast(message: Uint8Array): void
  /** Sends to one peer on the topic. Never throws; a message to a peer that is gone is lost. */
  send(peer: string, message: Uint8Array): void
  /** Leaves the topic; resolves when nothing more will be received. */
  leave(): Promise<void>
  /**
   * The largest message, in bytes, that this member can send and the bus deliver whole (NATS's
   * `max_payload`, for one). The cache sends a larger one in chunks that each fit, and puts it
   * together again where it arrives. Absent: no limit.
   */
  readonly maxMessage?: number
}
