import { Budget } from './budget.js'
import { Counters } from './counters.js'
import { Changes } from './changes.js'
import { Epochs } from './epoch.js'
import { Fences } from './fences.js'
import { Memory } from './layout.js'
import { Liveness } from './liveness.js'
import { Owners } from './owners.js'

/** One thread's view of a cache's shared memory, part by part (see layout.ts for who writes what). */
export class Shared<E extends Epochs = Epochs> {
  readonly memory: Memory
  readonly epochs: E
  readonly owners: Owners
  readonly budget: Budget
  readonly counters: Counters
  readonly liveness: Liveness
  readonly fences: Fences
  readonly changes: Changes

  constructor(memory: Memory, epochs: E) {
    this.memory = memory
    this.epochs = epochs
    this.owners = new Owners(memory)
    this.budget = new Budget(memory)
    this.counters = new Counters(memory)
    this.liveness = new Liveness(memory)
    this.fences = new Fences(memory)
    this.changes = new Changes(memory)
  }

  /** The view of memory another thread made, for a thread that only reads the epoch. */
  static of(buffer: SharedArrayBuffer): Shared {
    const memory = new Memory(buffer)
    return new Shared(memory, new Epochs(memory))
  }
}
