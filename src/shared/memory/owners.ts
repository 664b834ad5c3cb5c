// Each owner thread's slots. Its state and generation are written by the supervisor alone (in
// the creating thread), which learns that an instance listens from the instance itself; callers
// wait on the generation to reconnect after a restart. Its flushed epoch is written by the
// owner's current instance alone, and read by whoever waits for a reset to take effect.
import { Int, Memory, OwnerInt } from './layout.js'

export const enum OwnerState {
  Starting = 0,
  Running = 1,
  GaveUp = 2,
}

export class Owners {
  readonly #memory: Memory
  readonly #ints: Int32Array

  constructor(memory: Memory) {
    this.#memory = memory
    this.#ints = memory.ints
  }

  get count(): number {
    return this.#memory.owners
  }

  generation(owner: number): number {
    return Atomics.load(this.#ints, this.#memory.ownerSlot(owner, OwnerInt.Generation))
  }

  state(owner: number): OwnerState {
    return Atomics.load(this.#ints, this.#memory.ownerSlot(owner, OwnerInt.State)) as OwnerState
  }

  /** Resolves when owner's generation is no longer `seen`, or after `ms`. */
  async generationChange(owner: number, seen: number, ms: number): Promise<void> {
    await Atomics.waitAsync(this.#ints, this.#memory.ownerSlot(owner, OwnerInt.Generation), seen, ms).value
  }

  /** Supervisor: a new instance of owner `owner` listens; callers waiting to reconnect wake up. */
  started(owner: number): void {
    Atomics.store(this.#ints, this.#memory.ownerSlot(owner, OwnerInt.State), OwnerState.Running)
    const slot = this.#memory.ownerSlot(owner, OwnerInt.Generation)
    Atomics.store(this.#ints, slot, Atomics.load(this.#ints, slot) + 1)
    Atomics.notify(this.#ints, slot)
  }

  /** Supervisor: owner `owner`'s instance is gone; another is starting, or none will. */
  stopped(owner: number, state: OwnerState.Starting | OwnerState.GaveUp): void {
    Atomics.store(this.#ints, this.#memory.ownerSlot(owner, OwnerInt.State), state)
    Atomics.notify(this.#ints, this.#memory.ownerSlot(owner, OwnerInt.Generation))
    Atomics.notify(this.#ints, this.#memory.ownerSlot(owner, OwnerInt.Flushed))
  }

  /** Supervisor, at close: wakes whoever waits on an owner, so that they see the cache closed. */
  wakeAll(): void {
    for (let i = 0; i < this.count; i++) {
      Atomics.notify(this.#ints, this.#memory.ownerSlot(i, OwnerInt.Generation))
      Atomics.notify(this.#ints, this.#memory.ownerSlot(i, OwnerInt.Flushed))
    }
    Atomics.notify(this.#ints, Int.Acked)
  }

  /** The owner's current instance: it has dropped everything older than `epoch`. */
  flushed(owner: number, epoch: number): void {
    const slot = this.#memory.ownerSlot(owner, OwnerInt.Flushed)
    Atomics.store(this.#ints, slot, epoch)
    Atomics.notify(this.#ints, slot)
  }

  /** Resolves when every running owner has flushed to `epoch`, or `stop()` says to stop looking. */
  async allFlushed(epoch: number, stop: () => boolean): Promise<void> {
    for (let i = 0; i < this.count; i++) {
      const slot = this.#memory.ownerSlot(i, OwnerInt.Flushed)
      for (;;) {
        const at = Atomics.load(this.#ints, slot)
        if (at >= epoch || stop() || this.state(i) !== OwnerState.Running) break
        await Atomics.waitAsync(this.#ints, slot, at, 100).value
      }
    }
  }
}
