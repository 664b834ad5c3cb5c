// Reading the call logs of fault tests (fixtures/call-log.ts) for the invariants every fault must
// keep: no call served a stored value older than a reset that resolved before it began; every
// call settled, and in time.
import type { Call, Pending } from '../fixtures/call-log.js'

/**
 * How long after its computation ended a value must have been handed to a call for that call to
 * have been served a value that already existed (stored, or a near copy) rather than to have
 * joined the computation: a computation's value reaches its waiters within this.
 */
export const EXISTED = 50

/**
 * The calls that began after `resolved` (a reset of the version away from `old` resolved then)
 * and were served a value of `old` that already existed when they began, computed before the
 * reset resolved. A cut-off process computing afresh, uncached, under the version it knows
 * (partition: 'compute') is not one of these; a stored value or a near copy is.
 */
export function staleAfter(calls: readonly Call[], resolved: number, old: unknown): Call[] {
  return calls.filter((c) => c.start > resolved && c.value !== undefined && c.value.version === old && c.value.at < resolved && c.value.end < c.start - EXISTED)
}

/**
 * The calls that took longer than `ms` to settle; with `frozen` (from, to: when the whole process
 * was stopped), not counting the time a call spent stopped, in which nothing could run.
 */
export function slower(calls: readonly Call[], ms: number, frozen?: readonly [number, number]): Call[] {
  const stopped = (c: Call) => (frozen === undefined ? 0 : Math.max(0, Math.min(c.end, frozen[1]) - Math.max(c.start, frozen[0])))
  return calls.filter((c) => c.end - c.start - stopped(c) > ms)
}

/** The calls still pending at `now` that began more than `ms` before. */
export function hung(pending: readonly Pending[], now: number, ms: number): Pending[] {
  return pending.filter((p) => now - p.start > ms)
}

/** A call in a line, for a failure message. */
export function show(c: Call | Pending, origin = 0): string {
  const when = `+${c.start - origin} ms`
  if (!('end' in c)) return `${c.key} called at ${when}: still pending`
  const got = c.value === undefined ? `error ${c.error}` : `${String(c.value.version)} computed at +${c.value.at - origin} ms by pid ${c.value.pid} thread ${c.value.thread} #${c.value.n}`
  return `${c.key} called at ${when}, settled after ${c.end - c.start} ms: ${got}`
}

/** At most `n` lines of `calls`, shown, with how many more there were. */
export function some(calls: readonly (Call | Pending)[], origin = 0, n = 5): string {
  const lines = calls.slice(0, n).map((c) => show(c, origin))
  if (calls.length > n) lines.push(`... and ${calls.length - n} more`)
  return lines.join('\n')
}
