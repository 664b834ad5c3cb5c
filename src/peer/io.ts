import type { AgentToOwner, RequesterMessage } from '../shared/protocol.js'
import type { Stamp } from '../shared/memory/epoch.js'
import type { Outgoing } from './wire.js'

/** What the agent gives the parts that carry requests between owners and peers. */
export interface AgentIO {
  /** Sends to one peer. */
  send(peer: string, message: Outgoing): void
  /** Posts to owner thread `owner`'s current instance; false while there is none (it is restarting, or was given up on). */
  post(owner: number, message: RequesterMessage | AgentToOwner): boolean
  /** This process's epoch now. */
  epoch(): number
  /** The stamp of the reset this process is on. */
  stamp(): Stamp
  /** A message was refused: it is counted. */
  refused(): void
  /** Whether a message carrying `bytes` of value goes in chunks (see chunks.ts): it takes a while to arrive. */
  chunked(bytes: number): boolean
}
