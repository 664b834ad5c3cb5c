// What makes a single key's invalidation (or a `set`) reach values already on their way: a
// generation per key slot, which the owner of a key adds one to when it drops the key's value,
// and which every value it sends carries. A caller that receives a value whose slot has moved
// since asks again; a near copy whose slot has moved is not served. Keys share the slots
// (FNV-1a of the encoding, modulo FENCE_SLOTS), so an invalidation may also cost another key's
// near copy a message; it never lets a stale value through. Slot 0 is moved by an invalidation
// by prefix, once every owner has dropped the keys under it, and fences every key.
import { fnv1a } from '../key.js'
import { changed } from './changes.js'
import { FENCE_SLOTS, type Memory } from './layout.js'

/** A value's fence: its key slot and the generations of that slot and of the prefixes when it was sent. */
export interface Fence {
  readonly slot: number
  readonly gen: number
  readonly prefixes: number
}

export class Fences {
  readonly #ints: Int32Array
  readonly #base: number

  constructor(memory: Memory) {
    this.#ints = memory.ints
    this.#base = memory.fenceSlot(0)
  }

  /** The slot of an encoded key: never 0. */
  slotOf(key: string): number {
    return 1 + (fnv1a(key) % (FENCE_SLOTS - 1))
  }

  /** The fence of `slot` now. */
  read(slot: number): Fence {
    return { slot, gen: Atomics.load(this.#ints, this.#base + slot), prefixes: Atomics.load(this.#ints, this.#base) }
  }

  /** Whether nothing has been invalidated under `fence` since it was read. */
  holds(fence: Fence): boolean {
    return Atomics.load(this.#ints, this.#base + fence.slot) === fence.gen && Atomics.load(this.#ints, this.#base) === fence.prefixes
  }

  /** The key's value was dropped: every value of it sent before is fenced off. */
  moveKey(key: string): void {
    Atomics.add(this.#ints, this.#base + this.slotOf(key), 1)
    changed(this.#ints)
  }

  /** Values under a prefix were dropped by every owner: every value sent before is fenced off. */
  movePrefixes(): void {
    Atomics.add(this.#ints, this.#base, 1)
    changed(this.#ints)
  }
}
