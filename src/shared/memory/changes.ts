// How many times something has changed that can make a near copy unservable: the epoch moving,
// the cache closing, a key's fence or the prefixes' fence moving. Each writer adds one right after
// its change, in the same synchronous step; a near copy remembers the count it was last checked
// at, and while the count is still there, nothing it depends on has moved: one load on a near hit
// instead of reading the epoch, the closed flag and the key's two fences (near.ts).
//
// A writer terminated between its change and its count would leave a change that the copies
// made before it never look at. The writers are the creating thread (epoch, closed, prefixes),
// whose owners end with it, and the owners (key fences): the supervisor adds one when it finds an
// owner gone, before anything that waited on that owner goes on (supervisor.ts). The count is an
// Int32 that wraps: a copy last checked exactly 2^32 changes ago is taken for unchanged.
import { Int, type Memory } from './layout.js'

export class Changes {
  readonly #ints: Int32Array

  constructor(memory: Memory) {
    this.#ints = memory.ints
  }

  /** The count now. */
  count(): number {
    return Atomics.load(this.#ints, Int.Changes)
  }

  /** Right after a change a near copy depends on. */
  moved(): void {
    changed(this.#ints)
  }
}

/** Counts a change: for the writers that hold only the Int32 view. */
export function changed(ints: Int32Array): void {
  Atomics.add(ints, Int.Changes, 1)
}
