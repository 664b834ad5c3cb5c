// The counters behind stats(). Three kinds, each with its writers named:
//
//   an owner's row     written by that owner only (the supervisor zeroes a dead owner's holdings)
//   add-only counters  any thread adds with Atomics.add; nobody sets them, nobody waits on them,
//                      so a thread stopped anywhere leaves them consistent
//   near slots         a thread that keeps near copies claims a slot and writes its near bytes
//                      there; when the thread closes its use of the cache it gives the slot back,
//                      and when it dies without closing, the owners it was linked to do, seeing
//                      its links close (the slot's claim token tells them it is still that thread's)
import { Counter, Memory, NEAR_SLOTS, PEER_COUNTERS, Row } from './layout.js'

export class Counters {
  readonly #memory: Memory
  readonly #bigs: BigInt64Array

  constructor(memory: Memory) {
    this.#memory = memory
    this.#bigs = memory.bigs
  }

  add(counter: Counter, n: number): void {
    Atomics.add(this.#bigs, counter, BigInt(n))
  }

  read(counter: Counter): number {
    return Number(Atomics.load(this.#bigs, counter))
  }

  /** Owner `owner`: adds `n` to a counter of its row. */
  rowAdd(owner: number, field: Row, n: number): void {
    Atomics.add(this.#bigs, this.#memory.rowSlot(owner, field), BigInt(n))
  }

  rowRead(owner: number, field: Row): number {
    return Number(Atomics.load(this.#bigs, this.#memory.rowSlot(owner, field)))
  }

  /** A counter of every owner's row, summed. */
  rowSum(field: Row): number {
    let total = 0
    for (let i = 0; i < this.#memory.owners; i++) total += this.rowRead(i, field)
    return total
  }

  /** The peer agent: the sum of the live peers' counters. */
  setPeerSums(sums: readonly number[]): void {
    for (let i = 0; i < PEER_COUNTERS; i++) Atomics.store(this.#bigs, this.#memory.peerSumSlot(i), BigInt(sums[i] ?? 0))
  }

  peerSums(): number[] {
    return Array.from({ length: PEER_COUNTERS }, (_, i) => Number(Atomics.load(this.#bigs, this.#memory.peerSumSlot(i))))
  }

  /**
   * A thread claims a near slot with `token` (non-zero, unique to the thread); -1 when every
   * slot is taken (the thread then keeps no near copies, so that nearBytes stays exact).
   */
  claimNearSlot(token: number): number {
    for (let i = 0; i < NEAR_SLOTS; i++) {
      if (Atomics.compareExchange(this.#memory.ints, this.#memory.nearClaimSlot(i), 0, token) === 0) {
        Atomics.store(this.#bigs, this.#memory.nearBytesSlot(i), 0n)
        return i
      }
    }
    return -1
  }

  /** The slot's holder: its near bytes now. */
  setNearBytes(slot: number, bytes: number): void {
    Atomics.store(this.#bigs, this.#memory.nearBytesSlot(slot), BigInt(bytes))
  }

  /** Gives slot `slot` back if `token` still holds it (its thread, or an owner after it died). */
  releaseNearSlot(slot: number, token: number): void {
    if (slot < 0 || slot >= NEAR_SLOTS) return
    Atomics.compareExchange(this.#memory.ints, this.#memory.nearClaimSlot(slot), token, 0)
  }

  /** The near bytes of every thread that holds a slot. */
  nearBytes(): number {
    let total = 0n
    for (let i = 0; i < NEAR_SLOTS; i++) {
      if (Atomics.load(this.#memory.ints, this.#memory.nearClaimSlot(i)) !== 0) total += Atomics.load(this.#bigs, this.#memory.nearBytesSlot(i))
    }
    return Number(total)
  }
}
