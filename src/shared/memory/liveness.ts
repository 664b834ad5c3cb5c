// Whether this process may serve what it stored, checked where values are served: at every owner
// hit and every near hit, in whichever thread. One writer: the peer agent, in the thread that
// created the cache, which moves `ServeUntil` to (when it sent the last of its own messages it
// heard back + peerTimeout) while the process is live and caught up, and back to now when it is
// cut off. A blocked creating thread, or a stopped process, therefore serves nothing stored once
// that time has passed, from any thread, from the first instant it runs again: the readers look
// at the clock themselves.
//
// The time is on the monotonic clock (shared/clock.ts), so that a step of the wall clock does not
// move it. It is kept in an Int32 as milliseconds modulo 2^32 and compared with wrap-around, as
// TCP compares sequence numbers: exact as long as the agent last wrote it less than 24 days ago.
// Without a bus nothing can make a process stale: it always serves.
//
// The agent also writes the epoch up to which every live peer has taken this process's resets
// (resets wait on it) and how many peers it sees.
import { monotonic } from '../clock.js'
import { Int, Memory } from './layout.js'

export class Liveness {
  readonly #ints: Int32Array
  readonly #clustered: boolean

  constructor(memory: Memory) {
    this.#ints = memory.ints
    this.#clustered = memory.clustered
  }

  /** Whether stored values may be served (and values stored) now. */
  serving(): boolean {
    return !this.#clustered || this.remaining() > 0
  }

  /** Milliseconds until serving stops: negative once it has (meaningless without a bus). */
  remaining(): number {
    return (Atomics.load(this.#ints, Int.ServeUntil) - (monotonic() >>> 0)) | 0
  }

  /** Agent: stored values may be served until `ms` (a monotonic() time); now or earlier stops it. */
  serveUntil(ms: number): void {
    Atomics.store(this.#ints, Int.ServeUntil, ms | 0)
  }

  /** Agent: every live peer has taken the resets of this process up to `epoch`. */
  acked(epoch: number): void {
    if (epoch <= Atomics.load(this.#ints, Int.Acked)) return
    Atomics.store(this.#ints, Int.Acked, epoch)
    Atomics.notify(this.#ints, Int.Acked)
  }

  /** Resolves when the peers have taken the resets up to `epoch`, or `stop()` says to stop looking. */
  async allAcked(epoch: number, stop: () => boolean): Promise<void> {
    for (;;) {
      const at = Atomics.load(this.#ints, Int.Acked)
      if (at >= epoch || stop()) return
      await Atomics.waitAsync(this.#ints, Int.Acked, at, 100).value
    }
  }

  /** Agent: how many other live peers it sees. */
  setPeers(count: number): void {
    Atomics.store(this.#ints, Int.Peers, count)
  }

  peers(): number {
    return Atomics.load(this.#ints, Int.Peers)
  }
}
