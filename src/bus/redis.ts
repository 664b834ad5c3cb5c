// A bus over Redis pub/sub: at most once, as the cache's protocol expects, and nothing stored
// in Redis. Channels are named like the NATS bus's subjects:
//
//   coop-cache.<topic>.all           every member of the topic subscribes
//   coop-cache.<topic>.peer.<peer>   only <peer> subscribes
//
// A subscribed Redis connection can do nothing else, so each redisBus() has two, shared by its
// members: one that publishes and one that listens. The client is imported inside join, so
// that importing coop-cache never loads it and a user of another bus never installs it.
import type { Redis } from 'ioredis'
import { address } from './address.js'
import type { Bus, BusMember } from './bus.js'

/** Options of {@link redisBus}. */
export interface RedisBusOptions {
  /** The Redis server, as `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  readonly url: string
  /**
   * How long `join` waits for the first connection, in milliseconds. Once connected, the
   * client reconnects for as long as it takes. @default 2000
   */
  readonly timeout?: number
}

/** A {@link Bus} over Redis pub/sub; made by {@link redisBus}. */
export interface RedisBus extends Bus {
  /** How many broadcasts and sends failed to publish (the link was down): each one is lost. */
  readonly errors: number
}

interface Link {
  readonly pub: Redis
  readonly sub: Redis
  /** channel → the members' receive callbacks, and the subscribe under way or done */
  readonly channels: Map<string, { hear: Set<(message: Uint8Array) => void>; ready: Promise<unknown> }>
}

/**
 * Makes a bus over the Redis server at `options.url`. Members joined through one redisBus()
 * share its two connections, opened by the first join and closed when the last member leaves.
 */
export function redisBus(options: RedisBusOptions): RedisBus {
  const { url, timeout = 2000 } = options ?? {}
  if (typeof url !== 'string' || url === '') throw new TypeError('options.url must be a Redis URL, such as "redis://127.0.0.1:6379"')
  if (!(Number.isFinite(timeout) && timeout > 0)) throw new RangeError(`options.timeout must be a positive number of milliseconds, not ${timeout}`)
  let link: Promise<Link> | undefined
  let users = 0 // members, and joins under way: the connections close when none are left
  let errors = 0

  async function open(): Promise<Link> {
    let Client: typeof Redis
    try {
      Client = (await import('ioredis')).Redis
    } catch (cause) {
      throw new Error('redisBus needs the Redis client: npm install ioredis', { cause })
    }
    let connected = false
    let lastError: Error | undefined
    const client = () => {
      // Until the first connection, a failure is final (retryStrategy null), so join rejects
      // rather than retry forever. No offline queue: a message held while the link is down
      // would arrive late and all at once; at most once, it is better lost.
      const c = new Client(url, {
        lazyConnect: true, connectTimeout: timeout, enableOfflineQueue: false,
        retryStrategy: (times) => (connected ? Math.min(times * 200, 2000) : null),
      })
      // ioredis prints 'error' events nobody listens to; a failed connect rejects anyway.
      return c.on('error', (error: Error) => { lastError = error })
    }
    const pub = client()
    const sub = client()
    try {
      await Promise.all([pub.connect(), sub.connect()])
    } catch (cause) {
      pub.disconnect()
      sub.disconnect()
      throw new Error(`redisBus cannot connect to Redis at ${safe(url)}: ${(lastError ?? (cause as Error)).message}`, { cause: lastError ?? cause })
    }
    connected = true
    const channels: Link['channels'] = new Map()
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      // A copy per member: they share one Buffer, which may be a slice of the socket's.
      for (const hear of channels.get(channel.toString())?.hear ?? []) hear(new Uint8Array(message))
    })
    return { pub, sub, channels }
  }

  async function release(): Promise<void> {
    if (--users > 0 || link === undefined) return
    const closing = link
    link = undefined
    await closing.then(({ pub, sub }) => Promise.allSettled([pub.quit(), sub.quit()])).catch(() => {})
  }

  return {
    async join(topic, peer, receive) {
      if (typeof topic !== 'string' || typeof peer !== 'string') throw new TypeError('topic and peer must be strings')
      users++
      const opening = (link ??= open())
      // A link that failed is forgotten at once, so that the next join tries again.
      opening.catch(() => { if (link === opening) link = undefined })
      let left = false
      const hear = (message: Uint8Array) => { if (!left) receive(message) }
      const mine = [address(topic), address(topic, peer)]
      const l = await opening.catch(async (error: unknown) => {
        await release()
        throw error
      })
      try {
        // Resolved subscribes mean Redis has them: every later message reaches this member.
        await Promise.all(mine.map((name) => subscribe(l, name, hear)))
      } catch (error) {
        left = true
        await Promise.allSettled(mine.map((name) => unsubscribe(l, name, hear)))
        await release()
        throw error
      }
      const publish = (name: string, message: Uint8Array) => {
        if (left) return
        l.pub.publish(name, Buffer.from(message)).catch(() => { errors++ })
      }
      const member: BusMember = {
        broadcast: (message) => publish(mine[0]!, message),
        send: (to, message) => publish(address(topic, to), message),
        async leave() {
          if (left) return
          left = true
          await Promise.allSettled(mine.map((name) => unsubscribe(l, name, hear)))
          await release()
        },
      }
      return member
    },
    get errors() {
      return errors
    },
  }
}

function subscribe(l: Link, name: string, hear: (message: Uint8Array) => void): Promise<unknown> {
  const entry = l.channels.get(name)
  if (entry !== undefined) {
    entry.hear.add(hear)
    return entry.ready
  }
  const ready = l.sub.subscribe(name)
  l.channels.set(name, { hear: new Set([hear]), ready })
  return ready
}

async function unsubscribe(l: Link, name: string, hear: (message: Uint8Array) => void): Promise<void> {
  const entry = l.channels.get(name)
  if (entry === undefined || !entry.hear.delete(hear) || entry.hear.size > 0) return
  l.channels.delete(name)
  await l.sub.unsubscribe(name)
}

/** The url without its password, for error messages. */
function safe(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')
}
