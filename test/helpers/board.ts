// A board in shared memory that tests and their worker threads all see: a counter of
// computations actually run, a counter of computations that saw their signal aborted, and
// gates that hold a computation until the test opens them. It is how a test blocks `fn` on a
// promise it controls when `fn` runs in another thread.
import { threadId } from 'node:worker_threads'
import type { CacheStats, ComputeContext } from 'coop-cache'

async function holding(work: () => Promise<void>): Promise<void> {
  const hold = setInterval(() => {}, 1 << 30)
  try {
    await work()
  } finally {
    clearInterval(hold)
  }
}

const COMPUTED = 0
const ABORTED = 1
const GATES = 2

export class Board {
  readonly buffer: SharedArrayBuffer
  readonly #cells: Int32Array
  #made = 0

  constructor(buffer = new SharedArrayBuffer(4 * 64)) {
    this.buffer = buffer
    this.#cells = new Int32Array(buffer)
  }

  get computed(): number {
    return Atomics.load(this.#cells, COMPUTED)
  }

  get aborted(): number {
    return Atomics.load(this.#cells, ABORTED)
  }

  /** Resolves once at least `n` computations have started. */
  async computations(n: number): Promise<void> {
    await this.#atLeast(COMPUTED, n)
  }

  /** Resolves once at least `n` computations have seen their signal abort. */
  async abortions(n: number): Promise<void> {
    await this.#atLeast(ABORTED, n)
  }

  // Atomics.waitAsync does not hold the event loop: a thread whose only pending work is one
  // of these waits would end in the middle of it, so each wait holds the loop with a timer.
  async #atLeast(cell: number, n: number): Promise<void> {
    await holding(async () => {
      for (;;) {
        const now = Atomics.load(this.#cells, cell)
        if (now >= n) return
        await Atomics.waitAsync(this.#cells, cell, now, 50).value
      }
    })
  }

  open(gate: number): void {
    Atomics.store(this.#cells, GATES + gate, 1)
    Atomics.notify(this.#cells, GATES + gate)
  }

  async #gate(gate: number): Promise<void> {
    await holding(async () => {
      while (Atomics.load(this.#cells, GATES + gate) === 0) await Atomics.waitAsync(this.#cells, GATES + gate, 0, 50).value
    })
  }

  /** The fn a spec describes, counting on this board. */
  fn(spec: FnSpec): (context: ComputeContext) => Promise<unknown> {
    return async ({ signal, version, noStore }) => {
      signal.addEventListener('abort', () => {
        Atomics.add(this.#cells, ABORTED, 1)
        Atomics.notify(this.#cells, ABORTED)
      })
      const seq = Atomics.add(this.#cells, COMPUTED, 1) + 1
      Atomics.notify(this.#cells, COMPUTED)
      if (spec.gate !== undefined) await this.#gate(spec.gate)
      if (spec.delay !== undefined) await new Promise((resolve) => setTimeout(resolve, spec.delay))
      if (spec.throws !== undefined) throw new RangeError(spec.throws)
      if (spec.noStore === true) noStore()
      if (spec.hang === true) return new Promise(() => {})
      if (spec.uncloneable === true) return { render: () => 'a function cannot cross threads' }
      if (spec.bytes !== undefined) return new Uint8Array(spec.bytes).fill(7)
      const tagged = spec.tag === true ? `#${threadId}.${++this.#made}` : ''
      if (spec.seq === true) return `${String(spec.value)}~${seq}`
      if (spec.ordinal === true) return `${String(spec.value)}#${seq - 1}`
      return spec.withVersion === true ? `${String(spec.value)}@${String(version)}${tagged}` : spec.value
    }
  }
}

/** What a test's fn does, as plain data that can go to a worker thread. */
export interface FnSpec {
  readonly value?: unknown
  /** wait for this gate before returning */
  readonly gate?: number
  /** throw a RangeError with this message */
  readonly throws?: string
  /** never settle */
  readonly hang?: boolean
  /** return a value that cannot be cloned */
  readonly uncloneable?: boolean
  /** return a Uint8Array of this many bytes */
  readonly bytes?: number
  /** return `${value}@${version}` */
  readonly withVersion?: boolean
  /** with withVersion: append `#thread.n`, naming this very computation */
  readonly tag?: boolean
  /** wait this many ms before returning */
  readonly delay?: number
  /** call ctx.noStore(): the value goes to every waiter and is not stored */
  readonly noStore?: boolean
  /** return `${value}~${n}`: n numbers this computation among all of the board's, in the order they began (the board's count when it began) */
  readonly seq?: boolean
  /**
   * return `${value}#n`, n the number of computations this board had started before this one:
   * whether a value was computed before or after some moment is then plain from the value
   */
  readonly ordinal?: boolean
}

/** What a call in a worker may say for itself: cached()'s time options (status is filled in by the worker). */
export interface CallLife {
  readonly ttl?: number
  readonly grace?: number
}

/** What a call ended with, as plain data; `status`, when the call asked for it, is its `status.outcome`. */
export type Outcome = ({ readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly name: string; readonly code?: string; readonly message: string }) & { readonly status?: string }

/** With `status` (the object the call fills in), a value's outcome says how it came, as `how`. */
export async function outcome(call: Promise<unknown>, status?: { outcome?: string }): Promise<Outcome> {
  try {
    const value = await call
    return status === undefined ? { ok: true, value } : { ok: true, value, status: String(status.outcome) }
  } catch (error) {
    // Whatever the call was rejected with: without a secret, a lying peer can make it anything, undefined included.
    const e = (typeof error === 'object' && error !== null ? error : { name: typeof error, message: String(error) }) as { name?: string; code?: string; message?: string }
    return e.code === undefined
      ? { ok: false, name: String(e.name), message: String(e.message) }
      : { ok: false, name: String(e.name), code: e.code, message: String(e.message) }
  }
}

/**
 * Resolves when the cache's stats satisfy `test`: how a test knows requests reached an owner.
 * Rejects, with the last stats read, if they have not after `ms`: a test fails, never hangs.
 */
export async function until(cache: { stats(): Promise<CacheStats> }, test: (stats: CacheStats) => boolean, ms = 15_000): Promise<CacheStats> {
  for (const end = Date.now() + ms; ;) {
    const stats = await cache.stats()
    if (test(stats)) return stats
    if (Date.now() > end) throw new Error(`the cache's stats did not come to what the test waits for (${test.toString()}) within ${ms} ms; the last read: ${JSON.stringify(stats)}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
