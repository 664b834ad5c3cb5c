// Whether the brokers the NATS and Redis buses need are there, asked once before the tests
// are declared (ava cannot skip a test that has started). Where a broker is missing, its tests
// are declared skipped, and a line says why; with COOP_CACHE_REQUIRE_BROKERS=1 (as CI sets
// it) they fail instead, so that a missing broker never passes for a green run.
//
// Environment:
//   COOP_CACHE_NATS_URL         the NATS server to test against   (default nats://127.0.0.1:4222)
//   COOP_CACHE_REDIS_URL        the Redis server to test against  (default redis://127.0.0.1:6379)
//   COOP_CACHE_REQUIRE_BROKERS  '1': a broker that is not reachable fails its tests, not skips them
import test, { type ExecutionContext } from 'ava'
import { connect } from 'node:net'

export type Broker = 'nats' | 'redis'

/** The broker's URL, from the environment or the loopback default. */
export const brokerUrl: Record<Broker, string> = {
  nats: process.env.COOP_CACHE_NATS_URL || 'nats://127.0.0.1:4222',
  redis: process.env.COOP_CACHE_REDIS_URL || 'redis://127.0.0.1:6379',
}

const label: Record<Broker, string> = { nats: 'NATS', redis: 'Redis' }
const port: Record<Broker, number> = { nats: 4222, redis: 6379 }

/** Resolves whether a TCP connection to the broker opens within `ms` milliseconds. */
export function reachable(broker: Broker, ms = 500): Promise<boolean> {
  const url = new URL(brokerUrl[broker].includes('://') ? brokerUrl[broker] : `nats://${brokerUrl[broker]}`)
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname || '127.0.0.1', port: Number(url.port) || port[broker], timeout: ms })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.once('connect', () => done(true)).once('timeout', () => done(false)).once('error', () => done(false))
  })
}

type Implementation = (t: ExecutionContext) => Promise<void> | void

/**
 * The `test` to declare a broker's tests with: ava's own when the broker is reachable; else
 * `test.skip`, after a line that says why; else, when brokers are required, a test that fails
 * with that line.
 */
export async function brokerTest(broker: Broker): Promise<(title: string, implementation: Implementation) => void> {
  if (await reachable(broker)) return test
  const why = `${label[broker]} is not reachable on ${brokerUrl[broker].replace(/^\w+:\/\//, '')}; start it (see README) or these tests are skipped`
  if (process.env.COOP_CACHE_REQUIRE_BROKERS === '1') {
    return (title) => test(title, (t) => t.fail(`${why} (COOP_CACHE_REQUIRE_BROKERS=1: they fail instead)`))
  }
  console.warn(`skipped: ${why}`)
  return test.skip
}
