// How long a value lives, in each of the forms it takes: a time to live and a grace as asked
// (ms, 0 for none), and the instants they make once a value is stored (monotonic() ms, 0 for
// never: clock.ts, so that a step of the wall clock makes no value live longer or shorter).
// Between processes a value's life travels as what it has left from now, so that the clocks of
// two machines never have to agree (see peer/wire.ts).
import type { Lifetime } from './protocol.js'

/** When a value expires and until when it may be served stale; 0 for never. */
export interface Instants {
  readonly expires: number
  readonly staleUntil: number
}

export const FOREVER: Lifetime = { ttl: 0, grace: 0 }

/** The instants of a value that lives `life` from `now` (already expired, with `life.grace` to go, if `stale`). */
export function instantsOf(life: Lifetime, now: number, stale = false): Instants {
  const expires = stale ? now : life.ttl > 0 ? now + life.ttl : 0
  return { expires, staleUntil: expires > 0 && life.grace > 0 ? expires + life.grace : 0 }
}

/** What a stored value is at `now`: served, served while one caller refreshes it, or gone. */
export function freshness(at: Instants, now: number): 'fresh' | 'stale' | 'gone' {
  if (at.expires === 0 || now < at.expires) return 'fresh'
  return now < at.staleUntil ? 'stale' : 'gone'
}

/**
 * What a value has left to live from `now` (its grace alone, once it has expired), in whole ms,
 * as the wire carries it: rounded down, so a value never lives longer for its travel. A value
 * that expires has at least 1 ms left: one that was fresh when it was looked up and expired on
 * its way must not read as one that never expires (ttl 0).
 */
export function lifeLeft(at: Instants, now: number): Lifetime {
  if (at.expires === 0) return FOREVER
  const grace = at.staleUntil === 0 ? 0 : at.staleUntil - Math.max(now, at.expires)
  return { ttl: Math.max(Math.floor(at.expires - now), 1), grace: Math.max(Math.floor(grace), 0) }
}
