// A bus over Redis pub/sub: at most once, as the cache's protocol expects, and nothing stored
// in Redis. Channels are named like the NATS bus's subjects:
//
//   coop-cache.<topic>.all           every member of the topic subscribes
//   coop-cache.<topic>.peer.<peer>   only <peer> subscribes
//
// A subscribed Redis connection can do nothing else, so each redisBus() has two, shared by its
// members: one that publishes and one that listens. The client is imported inside join, so
// that importing coop-cache never loads it and a user of another bus never installs it.
import type { Redis, RedisOptions } from 'ioredis'
import { CacheError } from '../shared/errors.js'
import { address } from './address.js'
import type { Bus, BusMember } from './bus.js'
import { listeners } from './listeners.js'

/**
 * The largest message a redisBus publishes whole. Redis takes far larger ones, but closes the
 * connection of a subscriber that has 32 MB waiting to be sent to it (its default
 * `client-output-buffer-limit pubsub`), or 8 MB for a minute: a 40 MB value was lost, and with
 * it every other message to that process, until it had reconnected. In chunks of this size,
 * a large value leaves Redis as fast as the subscriber reads it.
 */
const REDIS_MAX_MESSAGE = 1024 * 1024

/** Options of {@link redisBus}. */
export interface RedisBusOptions {
  /** The Redis server, as `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  readonly url: string
  /**
   * How long `join` waits for the first connection, in milliseconds. Once connected, the
   * client reconnects for as long as it takes. @default 2000
   */
  readonly timeout?: number
  /**
   * More options of the Redis client (ioredis), such as `username` and `password` (for a
   * server with `requirepass` or ACL users), `tls`, `db`. Where the url says the same thing
   * (host, port, username, password, db), the url wins. The bus keeps its own `lazyConnect`,
   * `connectTimeout` (from `timeout`), `enableOfflineQueue`, `retryStrategy` and
   * `autoResubscribe`: how it joins, what it does with a message while the link is down, and
   * how it reconnects and resubscribes depend on them. No error message shows a password.
   * @default {}
   */
  readonly redis?: RedisOptions
}

/** A {@link Bus} over Redis pub/sub; made by {@link redisBus}. */
export interface RedisBus extends Bus {
  /** How many broadcasts and sends failed to publish (the link was down): each one is lost. */
  readonly errors: number
  /** How many times a member's receive callback threw (or the promise it returned rejected): that message was lost to it. The first one is warned about. */
  readonly listenerErrors: number
}

interface Connections {
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
  const { url, timeout = 2000, redis = {} } = options ?? {}
  if (typeof url !== 'string' || url === '') throw new TypeError('options.url must be a Redis URL, such as "redis://127.0.0.1:6379"')
  if (!(Number.isFinite(timeout) && timeout > 0)) throw new RangeError(`options.timeout must be a positive number of milliseconds, not ${timeout}`)
  if (typeof redis !== 'object' || redis === null || Array.isArray(redis)) {
    throw new TypeError('options.redis must be an object of the Redis client\'s options, such as { username, password }')
  }
  const where = safe(url)
  // The client's own messages have no reason to hold a password; this makes sure of it.
  const passwords = [redis.password, url.match(PASSWORD)?.[2]].filter((p): p is string => typeof p === 'string' && p !== '')
  const told = (error: unknown) => passwords.reduce((text, p) => text.replaceAll(p, '***'), (error as Error).message)
  let link: Promise<Connections> | undefined
  let users = 0 // members, and joins under way: the connections close when none are left
  let errors = 0
  const listening = listeners('redisBus')

  async function open(): Promise<Connections> {
    let Client: typeof Redis
    try {
      Client = (await import('ioredis')).Redis
    } catch (cause) {
      throw new CacheError('ERR_COOP_CACHE_BUS_CLIENT_MISSING', 'redisBus needs the Redis client: npm install ioredis', { cause })
    }
    let connected = false
    let lastError: Error | undefined
    const client = () => {
      // Until the first connection, a failure is final (retryStrategy null), so join rejects
      // rather than retry forever. No offline queue: a message held while the link is down
      // would arrive late and all at once; at most once, it is better lost. autoResubscribe:
      // after a reconnect, the listening connection must hear its channels again.
      const c = new Client(url, {
        ...redis, lazyConnect: true, connectTimeout: timeout, enableOfflineQueue: false, autoResubscribe: true,
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
      throw new CacheError('ERR_COOP_CACHE_BUS_UNREACHABLE', `redisBus cannot connect to Redis at ${where}: ${told(lastError ?? cause)}`, { cause: lastError ?? cause })
    }
    connected = true
    const channels: Connections['channels'] = new Map()
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
    networked: true,
    async join(topic, peer, receive) {
      if (typeof topic !== 'string' || typeof peer !== 'string') throw new TypeError('topic and peer must be strings')
      users++
      const opening = (link ??= open())
      // A link that failed is forgotten at once, so that the next join tries again.
      opening.catch(() => { if (link === opening) link = undefined })
      let left = false
      // A throw from receive would escape into ioredis, and end the process: listening catches it.
      const hear = (message: Uint8Array) => { if (!left) listening.deliver(receive, message) }
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
        throw new CacheError('ERR_COOP_CACHE_BUS_UNREACHABLE', `redisBus cannot subscribe on Redis at ${where}: ${told(error)}`, { cause: error })
      }
      const publish = (name: string, message: Uint8Array) => {
        if (left) return
        l.pub.publish(name, Buffer.from(message)).catch(() => { errors++ })
      }
      const member: BusMember = {
        broadcast: (message) => publish(mine[0]!, message),
        send: (to, message) => publish(address(topic, to), message),
        maxMessage: REDIS_MAX_MESSAGE,
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
    get listenerErrors() {
      return listening.errors
    },
  }
}

function subscribe(l: Connections, name: string, hear: (message: Uint8Array) => void): Promise<unknown> {
  const entry = l.channels.get(name)
  if (entry !== undefined) {
    entry.hear.add(hear)
    return entry.ready
  }
  const ready = l.sub.subscribe(name)
  l.channels.set(name, { hear: new Set([hear]), ready })
  return ready
}

async function unsubscribe(l: Connections, name: string, hear: (message: Uint8Array) => void): Promise<void> {
  const entry = l.channels.get(name)
  if (entry === undefined || !entry.hear.delete(hear) || entry.hear.size > 0) return
  l.channels.delete(name)
  await l.sub.unsubscribe(name)
}

/** The user and password in a url: `//user:password@`. */
const PASSWORD = /\/\/([^:@/]*):([^@/]*)@/

/** The url without its password, for error messages. */
function safe(url: string): string {
  return url.replace(PASSWORD, '//$1:***@')
}
