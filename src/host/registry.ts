// The supervisor of each cache made in this thread, for the project's own tests of supervision
// (they crash owners on purpose). Internal: nothing the package exports reaches it.
import type { Cache } from '../caller/cache.js'
import type { Supervisor } from './supervisor.js'

const supervisors = new WeakMap<Cache, Supervisor>()

export function register(cache: Cache, supervisor: Supervisor): void {
  supervisors.set(cache, supervisor)
}

/** The supervisor of a cache made in this thread. */
export function supervisorOf(cache: Cache): Supervisor | undefined {
  return supervisors.get(cache)
}
