// The one writer of the epoch and version (shared/memory/epoch.ts), in the thread that created
// the cache. Every change of version goes through here: this process's resets, made in this
// thread or asked for by another thread (reset-requests.ts); its peers' resets, taken by the peer
// agent; and the flush of a process cut off from its peers. All of it is synchronous: a change
// is published whole in one turn of this thread, so there is no lock, and nothing a terminated
// thread could leave half done.
import { deserialize } from 'node:v8'
import { compareStamps, type EpochWriter, type Stamp } from '../shared/memory/epoch.js'
import { Counter } from '../shared/memory/layout.js'
import type { Shared } from '../shared/memory/shared.js'
import { events } from '../events/channels.js'

/** What happened to the version, for whoever follows it in this thread (the peer agent). */
export interface VersionChange {
  readonly epoch: number
  readonly bytes: Uint8Array
  readonly stamp: Stamp
  /** this process's own reset: to be announced to its peers */
  readonly own: boolean
}

export class Resets {
  readonly #shared: Shared<EpochWriter>
  readonly #onReset: ((version: unknown) => void) | undefined
  readonly #name: string
  /** Called after every change, in this thread (set by the peer agent). */
  onChange: ((change: VersionChange) => void) | undefined
  /** the owners' wake-up is queued (#wakeOwners) */
  #waking = false

  constructor(shared: Shared<EpochWriter>, name: string, onReset: ((version: unknown) => void) | undefined) {
    this.#shared = shared
    this.#name = name
    this.#onReset = onReset
  }

  /**
   * This process's reset to `version` (serialized). A version the cache already has changes
   * nothing, so every process may reset on the same event. Returns the epoch the cache is on.
   */
  reset(version: Uint8Array): number {
    const current = this.#shared.epochs.record()
    if (Buffer.compare(current.bytes, version) === 0) return current.epoch
    const stamp: Stamp = { clock: current.stamp.clock + 1, origin: this.#shared.memory.self, born: 0 }
    return this.#move(version, stamp, true)
  }

  /**
   * A peer's reset, taken if it comes after this process's. One to the version the cache already
   * has takes the stamp only: nothing is flushed. Returns whether it was taken.
   */
  adopt(version: Uint8Array, stamp: Stamp): boolean {
    const current = this.#shared.epochs.record()
    if (compareStamps(stamp, current.stamp) <= 0) return false
    if (Buffer.compare(current.bytes, version) === 0) {
      this.#shared.epochs.publish(version, stamp, current.epoch)
      this.onChange?.({ epoch: current.epoch, bytes: version, stamp, own: false })
    } else this.#move(version, stamp, false)
    return true
  }

  /** A new epoch with the same version and stamp: everything stored so far is dropped (see the agent's cut-off). */
  advance(): number {
    const current = this.#shared.epochs.record()
    const epoch = current.epoch + 1
    this.#shared.epochs.publish(current.bytes, current.stamp, epoch, false)
    this.onChange?.({ epoch, bytes: current.bytes, stamp: current.stamp, own: false })
    this.#wakeOwners()
    return epoch
  }

  #move(version: Uint8Array, stamp: Stamp, own: boolean): number {
    const epoch = this.#shared.epochs.record().epoch + 1
    this.#shared.epochs.publish(version, stamp, epoch, false)
    this.#shared.counters.add(Counter.Resets, 1)
    this.onChange?.({ epoch, bytes: version, stamp, own })
    this.#tell(version)
    if (events.reset.hasSubscribers) events.reset.publish({ cache: this.#name, version: deserialize(version), own })
    this.#wakeOwners()
    return epoch
  }

  /**
   * The owners are woken to drop the old entries once this event's code has run: the epoch they
   * check every message against has moved already, and what must not wait goes first — this
   * process's reset to its peers, and its acknowledgement of a peer's (the agent sends both at
   * once). A reset resolves once both the owners and the peers have taken it, and the peers' part
   * is the longer: announced after waking the owners, it left 40-60 µs later. One wake-up serves
   * every reset of the event.
   */
  #wakeOwners(): void {
    if (this.#waking) return
    this.#waking = true
    queueMicrotask(() => {
      this.#waking = false
      this.#shared.epochs.wake()
    })
  }

  /** onReset hears of every new version, after the change is whole. */
  #tell(bytes: Uint8Array): void {
    const onReset = this.#onReset
    if (onReset === undefined) return
    queueMicrotask(() => {
      try {
        onReset(deserialize(bytes))
      } catch (error) {
        process.emitWarning(`coop-cache: the onReset callback of cache ${JSON.stringify(this.#name)} threw: ${String(error)}`, { code: 'COOP_CACHE_ON_RESET_THREW' })
      }
    })
  }

  /** Resolves when every owner has dropped what is older than `epoch`, and (with a bus) every live peer has taken it. */
  async effective(epoch: number): Promise<void> {
    const closed = () => this.#shared.epochs.closed()
    await this.#shared.owners.allFlushed(epoch, closed)
    if (this.#shared.memory.clustered) await this.#shared.liveness.allAcked(epoch, closed)
  }
}
