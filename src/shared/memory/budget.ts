// The bytes reserved against memoryLimit, for the whole cache. The owners write it, each with a
// compare-and-swap that either takes an entry's bytes or leaves the budget as it was, so the sum
// over owners never passes the limit whatever the key skew. Each owner also keeps what it holds
// in its own row (counters.ts); when an owner's thread dies, the supervisor gives its bytes back.
//
// An owner records an entry in its row only after its reservation succeeded: a thread stopped in
// between leaves the entry's bytes reserved and not given back, which can only make the cache
// hold less than memoryLimit, never more.
import { Counter, Memory, Row } from './layout.js'

export class Budget {
  readonly #memory: Memory
  readonly #bigs: BigInt64Array

  constructor(memory: Memory) {
    this.#memory = memory
    this.#bigs = memory.bigs
  }

  /** The bytes reserved now, over every owner. */
  reserved(): number {
    return Number(Atomics.load(this.#bigs, Counter.Reserved))
  }

  /** Owner: reserves `n` bytes against `limit`; false when they do not fit. */
  reserve(n: number, limit: number): boolean {
    const want = BigInt(n)
    const cap = BigInt(limit)
    for (;;) {
      const have = Atomics.load(this.#bigs, Counter.Reserved)
      if (have + want > cap) return false
      if (Atomics.compareExchange(this.#bigs, Counter.Reserved, have, have + want) === have) return true
    }
  }

  /** Owner: gives back `n` bytes. */
  release(n: number): void {
    if (n !== 0) Atomics.sub(this.#bigs, Counter.Reserved, BigInt(n))
  }

  /** Supervisor: a dead owner's entries are gone; gives back what its row says it held. */
  forgetOwner(owner: number): void {
    const bytes = this.#memory.rowSlot(owner, Row.Bytes)
    const entries = this.#memory.rowSlot(owner, Row.Entries)
    const held = Atomics.exchange(this.#bigs, bytes, 0n)
    Atomics.store(this.#bigs, entries, 0n)
    this.release(Number(held))
  }
}
