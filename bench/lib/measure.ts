// Timing loops and their summaries, written by hand (no benchmark library): every scenario
// measures with these, so every figure in RESULTS.md means the same thing.
//
// - throughput: N calls one after another (each awaited), no timer inside the loop; ops/s.
// - latency: N calls one after another, each timed with process.hrtime.bigint(); the
//   timer's own cost (reported as the "timer floor") is inside every sample.
// - pipelined: N calls with W in flight at once (W lanes, each awaiting its call and then
//   starting the next); ops/s.
// A scenario repeats each measurement for several rounds, interleaving the subjects it
// compares, and reports the median over rounds of each figure.

import { setImmediate as yieldToLoop } from 'node:timers/promises'

export interface Summary {
  /** median over rounds, ns */
  readonly p50: number
  /** median over rounds, ns */
  readonly p99: number
  readonly rounds: number
}

/** Per-call latencies (ns) of `op`, awaited one at a time; sorted ascending. */
export async function latencies(n: number, op: (i: number) => unknown): Promise<Float64Array> {
  const out = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint()
    await op(i)
    out[i] = Number(process.hrtime.bigint() - start)
  }
  return out.sort()
}

/** Per-call latencies (ns) of a synchronous `op`; sorted ascending. */
export function latenciesSync(n: number, op: (i: number) => unknown): Float64Array {
  const out = new Float64Array(n)
  let sink: unknown
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint()
    sink = op(i)
    out[i] = Number(process.hrtime.bigint() - start)
  }
  keep(sink)
  return out.sort()
}

/** ops/s of `op`, awaited one at a time. */
export async function throughput(n: number, op: (i: number) => unknown): Promise<number> {
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await op(i)
  return n / seconds(start)
}

/** ops/s of a synchronous `op`. */
export function throughputSync(n: number, op: (i: number) => unknown): number {
  let sink: unknown
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) sink = op(i)
  const rate = n / seconds(start)
  keep(sink)
  return rate
}

/** ops/s of `op` with `inFlight` calls outstanding at all times (until the last ones). */
export async function pipelined(n: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0
  const lane = async () => {
    while (next < n) await op(next++)
  }
  const start = process.hrtime.bigint()
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, lane))
  return n / seconds(start)
}

/** Seconds since `start` (a process.hrtime.bigint()). */
export function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9
}

/** The value at quantile q (0..1) of an ascending array (nearest rank). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[at] as number
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** Collects one subject's figures over rounds; `summary()` gives the medians. */
export class Rounds {
  readonly rates: number[] = []
  readonly p50s: number[] = []
  readonly p99s: number[] = []

  addRate(rate: number): void {
    this.rates.push(rate)
  }

  addLatencies(sorted: ArrayLike<number>): void {
    this.p50s.push(quantile(sorted, 0.5))
    this.p99s.push(quantile(sorted, 0.99))
  }

  get rate(): number {
    return median(this.rates)
  }

  get p50(): number {
    return median(this.p50s)
  }

  get p99(): number {
    return median(this.p99s)
  }

  /** (max - min) / median of the rates, as a percentage: how noisy the rounds were. */
  get spread(): number {
    if (this.rates.length < 2) return 0
    return ((Math.max(...this.rates) - Math.min(...this.rates)) / this.rate) * 100
  }

  toJSON(): { rate: number; p50: number; p99: number; spread: number; rounds: number } {
    return { rate: this.rate, p50: this.p50, p99: this.p99, spread: this.spread, rounds: Math.max(this.rates.length, this.p50s.length) }
  }
}

/** The plain form of a Rounds, as it crosses a thread. */
export type RoundsData = ReturnType<Rounds['toJSON']>

type Gc = (options?: { type: 'major' | 'minor' }) => void

/** A turn of the event loop (timers, messages) on each side of a collection, when gc is exposed. */
async function collectBetweenTurns(options?: Parameters<Gc>[0]): Promise<void> {
  await yieldToLoop()
  ;(globalThis as { gc?: Gc }).gc?.(options)
  await yieldToLoop()
}

/** Lets the event loop turn and collects everything: around a figure of memory. */
export function breathe(): Promise<void> {
  return collectBetweenTurns()
}

/**
 * Between two timed measurements: lets the event loop turn and empties the young generation, so
 * that one subject's short-lived garbage is not collected on the next one's time. Not a full
 * collection: a forced full one throws away optimized code all along a path (V8 deoptimizes
 * code whose embedded objects that collection frees: Node's timers, a bus client's parser, the
 * agent's steps), which a process in service keeps through V8's own collections. Measured
 * after one, a remote hit read about 10% slower on the mean, with p99 up to twice as high.
 */
export function between(): Promise<void> {
  return collectBetweenTurns({ type: 'minor' })
}

/** The p50 cost of one hrtime.bigint() pair around nothing: the floor of every latency. */
export function timerFloor(): number {
  latenciesSync(10_000, () => 0)
  return quantile(latenciesSync(100_000, () => 0), 0.5)
}

let sunk: unknown
/** Keeps a value alive so the optimizer cannot drop the work that made it. */
export function keep(value: unknown): void {
  sunk = value
}
export function sink(): unknown {
  return sunk
}

// ---- formatting ----

export function ns(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  if (value < 1_000) return `${Math.round(value)} ns`
  if (value < 1_000_000) return `${(value / 1_000).toFixed(value < 10_000 ? 2 : 1)} µs`
  return `${(value / 1_000_000).toFixed(2)} ms`
}

export function rate(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M/s`
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k/s`
  return `${value.toFixed(0)} /s`
}

export function ratio(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  return `${value.toFixed(2)}x`
}

export function bytes(value: number): string {
  if (value >= 1024 * 1024) return `${(value / 1024 / 1024).toFixed(1)} MiB`
  if (value >= 1024) return `${(value / 1024).toFixed(1)} KiB`
  return `${value} B`
}

export function count(value: number): string {
  return value.toLocaleString('en-US')
}

export function pct(value: number): string {
  return `${value.toFixed(0)}%`
}

/** A markdown table. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n')
}
