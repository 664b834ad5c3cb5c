// A value's life as it travels between processes (shared/lifetime.ts): what it has left from
// now, never mistaken for a life without end.
import test from 'ava'
import { freshness, instantsOf, lifeLeft } from '../src/shared/lifetime.js'

test('a value that expired on its way to another process is not taken there for one that never expires', (t) => {
  const now = 1_000_000
  // fresh when its owner looked it up; expired by the time its answer is written
  for (const late of [0, 1, 5, 500]) {
    const left = lifeLeft({ expires: now - late, staleUntil: 0 }, now)
    t.not(left.ttl, 0, `expired ${late} ms ago`)
    const there = instantsOf(left, now)
    t.is(freshness(there, now + left.ttl), 'gone', `expired ${late} ms ago: gone there once its time left has passed`)
  }
})

test('a value without expiry travels as one, and a value with some left keeps what it has left and its grace', (t) => {
  const now = 5_000
  t.deepEqual(lifeLeft({ expires: 0, staleUntil: 0 }, now), { ttl: 0, grace: 0 })
  t.deepEqual(lifeLeft({ expires: now + 300, staleUntil: now + 1300 }, now), { ttl: 300, grace: 1000 })
  // stale: its grace from now
  t.deepEqual(lifeLeft({ expires: now - 100, staleUntil: now + 400 }, now).grace, 400)
  t.is(freshness(instantsOf({ ttl: 0, grace: 400 }, now, true), now + 399), 'stale')
  t.is(freshness(instantsOf({ ttl: 0, grace: 400 }, now, true), now + 400), 'gone')
})

test('what a value has left travels in whole milliseconds, rounded down: the clock reads fractions, the wire takes counts', (t) => {
  const now = 5_000.75
  t.deepEqual(lifeLeft({ expires: now + 299.6, staleUntil: now + 1299.9 }, now), { ttl: 299, grace: 1000 })
  t.deepEqual(lifeLeft({ expires: now - 0.5, staleUntil: now + 400.9 }, now), { ttl: 1, grace: 400 })
  t.deepEqual(lifeLeft({ expires: now + 0.3, staleUntil: 0 }, now), { ttl: 1, grace: 0 })
})
