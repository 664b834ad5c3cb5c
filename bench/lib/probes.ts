// What a forked process of the cross-process scenarios (7 and 8) measures where it runs and sends
// back over the IPC channel, so that only figures cross it: one measurement of an operation
// (calls one at a time, or many in flight), a timed call (the machine's monotonic clock at its
// start and at its end, and why it rejected), and a watch that looks until a value is gone.

import { between, latencies, pipelined, quantile } from './measure.js'

export interface Measured {
  readonly p50?: number
  readonly p99?: number
  /** calls/s: 1 / mean latency, or the rate with many in flight */
  readonly rate: number
}

/** `n` calls of `op`: one at a time, each timed ('latency'), or `inFlight` at a time ('pipelined'). */
export async function measureOp(mode: 'latency' | 'pipelined', n: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<Measured> {
  await between()
  if (mode === 'pipelined') return { rate: await pipelined(n, inFlight, op) }
  const sorted = await latencies(n, op)
  let sum = 0
  for (const x of sorted) sum += x
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), rate: 1e9 / (sum / n) }
}

/** A call timed on the machine's monotonic clock (process.hrtime, ns as strings); why it rejected. */
export interface Timed {
  readonly t0: string
  readonly t1: string
  readonly error?: string
}

export async function timed(call: () => Promise<unknown>): Promise<Timed> {
  const t0 = process.hrtime.bigint()
  const error = await call().then(
    () => undefined,
    (e: unknown) => String((e as Error)?.message ?? e),
  )
  const t1 = process.hrtime.bigint()
  return { t0: String(t0), t1: String(t1), ...(error === undefined ? {} : { error }) }
}

/** What a watch saw. Times are hrtime (ns, as strings). */
export interface Gone {
  /** when the first look that found the value gone returned; null if none did within the watch */
  readonly at: string | null
  /** when the last look that still found the value began; null if none did */
  readonly lastSeen: string | null
  readonly looks: number
  /** ns spent watching */
  readonly ns: number
}

/**
 * Looks, one look after another (with `between` awaited between two, if given), until `isGone`
 * says so or `ms` have passed. Started at once; the promise settles when it ends.
 */
export function watchUntilGone(isGone: () => Promise<boolean>, ms: number, between?: () => Promise<unknown>): Promise<Gone> {
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(ms) * 1_000_000n
  return (async () => {
    let looks = 0
    let now = start
    let lastSeen: string | null = null
    while (now < deadline) {
      looks++
      const began = process.hrtime.bigint()
      const gone = await isGone()
      now = process.hrtime.bigint()
      if (gone) return { at: String(now), lastSeen, looks, ns: Number(now - start) }
      lastSeen = String(began)
      if (between !== undefined) await between()
    }
    return { at: null, lastSeen, looks, ns: Number(now - start) }
  })()
}

/** What each process says of its part of a cold-key stampede. */
export interface StampedePart {
  readonly computations: number
  readonly wrong: number
  readonly errors: readonly string[]
}

/** A cold-key stampede over several processes, summed up: computations in all and in each, the wall time, what went wrong. */
export interface StampedeRound {
  readonly computations: number
  readonly perProcess: number[]
  readonly wallMs: number
  readonly wrong: number
  readonly errors: string[]
}

/** The round the processes' `parts` make, which took `wallMs`. */
export function stampedeRoundOf(parts: readonly StampedePart[], wallMs: number): StampedeRound {
  return {
    computations: parts.reduce((s, d) => s + d.computations, 0),
    perProcess: parts.map((d) => d.computations),
    wallMs,
    wrong: parts.reduce((s, d) => s + d.wrong, 0),
    errors: parts.flatMap((d) => d.errors),
  }
}
