// The brokers the cross-process scenarios (7 and 8) use, as the tests find them: NATS and Redis
// from COOP_CACHE_NATS_URL and COOP_CACHE_REDIS_URL, on this machine by default; and whether one
// can be reached, so that a scenario can leave its rows out and say why instead of failing.

import { connect } from 'node:net'

export const NATS_URL = process.env.COOP_CACHE_NATS_URL || 'nats://127.0.0.1:4222'
export const REDIS_URL = process.env.COOP_CACHE_REDIS_URL || 'redis://127.0.0.1:6379'

/** Whether a TCP connection to the broker's address opens within 500 ms; else why not. */
export function unreachable(broker: 'nats' | 'redis'): Promise<string | undefined> {
  const url = new URL(broker === 'nats' && !NATS_URL.includes('://') ? `nats://${NATS_URL}` : broker === 'nats' ? NATS_URL : REDIS_URL)
  const port = Number(url.port) || (broker === 'nats' ? 4222 : 6379)
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname || '127.0.0.1', port, timeout: 500 })
    const done = (why: string | undefined) => {
      socket.destroy()
      resolve(why)
    }
    socket
      .once('connect', () => done(undefined))
      .once('timeout', () => done(`nothing answered on ${url.hostname}:${port} within 500 ms`))
      .once('error', (error) => done(`${url.hostname}:${port}: ${error.message}`))
  })
}
