import type { AgentToOwner, CallerMessage } from '../protocol.js'
import type { Stamp } from '../shared.js'
import type { Outgoing } from './wire.js'

/** What the agent gives the parts that carry requests between owners and peers. */
export interface AgentIO {
  /** Sends to one peer, stamped with the current reset. */
  send(peer: string, message: Outgoing): void
  /** Posts to owner thread `owner`; false while it has no port (it is restarting). */
  post(owner: number, message: CallerMessage | AgentToOwner): boolean
  /** This process's epoch now. */
  epoch(): number
  /** The stamp of the reset this process is on. */
  stamp(): Stamp
}
