// A bus over core NATS (no JetStream): at most once, as the cache's protocol expects, and no
// state on the server. A topic is a subject for broadcasts and one subject per peer:
//
//   coop-cache.<topic>.all           every member of the topic listens here
//   coop-cache.<topic>.peer.<peer>   only <peer> listens here
//
// The client is imported inside join, so that importing coop-cache never loads it and a user
// of another bus never installs it.
import type { NatsConnection, NodeConnectionOptions, Subscription } from '@nats-io/transport-node'
import { CacheError } from '../shared/errors.js'
import { address } from './address.js'
import type { Bus, BusMember } from './bus.js'
import { listeners } from './listeners.js'

/** Options of {@link natsBus}. */
export interface NatsBusOptions {
  /** The NATS server, or several of the same cluster, as `host:port` or `nats://host:port`. */
  readonly servers: string | readonly string[]
  /** The connection's name, as the server's monitoring shows it. @default 'coop-cache' */
  readonly name?: string
  /**
   * How long `join` waits for the first connection, in milliseconds. Once connected, the
   * client reconnects for as long as it takes. @default 2000
   */
  readonly timeout?: number
  /**
   * More options of the NATS client's `connect()`, so that the server's own access control
   * can be used. Typically: `user` and `pass`; `token`; `authenticator`, for nkeys or a creds
   * file (the client exports `nkeyAuthenticator`, `credsAuthenticator`,
   * `usernamePasswordAuthenticator`, `tokenAuthenticator`); and `tls` (with `caFile`,
   * `certFile`, `keyFile` for a client certificate). `servers`, `name` and `timeout` above take
   * precedence over the same fields here (and `port`, which would clash with `servers`, is
   * ignored). The bus keeps its own `waitOnFirstConnect`, `maxReconnectAttempts`, `reconnect`
   * and `noEcho`: how it joins, reconnects and hears its own broadcasts depends on them.
   * @default {}
   */
  readonly connection?: NodeConnectionOptions
}

/** A {@link Bus} over a NATS server; made by {@link natsBus}. */
export interface NatsBus extends Bus {
  /** How many broadcasts and sends failed to publish (too large, connection closed): each one is lost. */
  readonly errors: number
  /** How many times a member's receive callback threw (or the promise it returned rejected): that message was lost to it. The first one is warned about. */
  readonly listenerErrors: number
}

/**
 * Makes a bus over the NATS server at `options.servers`. Members joined through one natsBus()
 * share one connection, opened by the first join and closed when the last member leaves.
 */
export function natsBus(options: NatsBusOptions): NatsBus {
  const { servers, name = 'coop-cache', timeout = 2000, connection: clientOptions = {} } = options ?? {}
  const list = typeof servers === 'string' ? [servers] : Array.isArray(servers) ? [...servers] : []
  if (list.length === 0 || !list.every((s) => typeof s === 'string' && s !== '')) {
    throw new TypeError('options.servers must be a server address ("host:port") or a non-empty array of them')
  }
  if (!(Number.isFinite(timeout) && timeout > 0)) throw new RangeError(`options.timeout must be a positive number of milliseconds, not ${timeout}`)
  if (typeof clientOptions !== 'object' || clientOptions === null || Array.isArray(clientOptions)) {
    throw new TypeError('options.connection must be an object of the NATS client\'s connection options, such as { user, pass } or { token }')
  }
  const where = list.join(', ')
  let connection: Promise<NatsConnection> | undefined
  let users = 0 // members, and joins under way: the connection closes when none are left
  let errors = 0
  const listening = listeners('natsBus')

  async function open(): Promise<NatsConnection> {
    let nats: typeof import('@nats-io/transport-node')
    try {
      nats = await import('@nats-io/transport-node')
    } catch (cause) {
      throw new CacheError('ERR_COOP_CACHE_BUS_CLIENT_MISSING', 'natsBus needs the NATS client: npm install @nats-io/transport-node', { cause })
    }
    try {
      // waitOnFirstConnect stays false: a first connection that fails rejects now, rather than
      // retrying forever; maxReconnectAttempts -1 only applies once connected. noEcho stays
      // false: members of this bus share the connection and hear their own broadcasts.
      return await nats.connect({
        ...clientOptions, servers: list, port: undefined, name, timeout,
        reconnect: true, maxReconnectAttempts: -1, waitOnFirstConnect: false, noEcho: false,
      })
    } catch (cause) {
      throw new CacheError('ERR_COOP_CACHE_BUS_UNREACHABLE', `natsBus cannot connect to NATS at ${where}: ${(cause as Error).message}`, { cause })
    }
  }

  async function release(): Promise<void> {
    if (--users > 0 || connection === undefined) return
    const closing = connection
    connection = undefined
    await closing.then((nc) => nc.drain()).catch(() => {})
  }

  /** nats-server's default max_payload, for a client that has not heard the server's yet. */
  const NATS_MAX_PAYLOAD = 1024 * 1024

  function publish(nc: NatsConnection, subject: string, message: Uint8Array): void {
    try {
      // A copy: the client only queues the bytes until its next flush, and the caller may reuse them.
      nc.publish(subject, new Uint8Array(message))
    } catch {
      errors++
    }
  }

  return {
    networked: true,
    async join(topic, peer, receive) {
      if (typeof topic !== 'string' || typeof peer !== 'string') throw new TypeError('topic and peer must be strings')
      users++
      const opening = (connection ??= open())
      // A connection that failed is forgotten at once, so that the next join tries again.
      opening.catch(() => { if (connection === opening) connection = undefined })
      let nc: NatsConnection
      const subs: Subscription[] = []
      let left = false
      try {
        nc = await opening
        // A plain Uint8Array over the client's Buffer, as every bus gives: no copy. A throw
        // from receive would end the subscription for good: listening catches it.
        const hear = (error: Error | null, m: { data: Uint8Array }) => {
          if (error === null && !left) listening.deliver(receive, new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength))
        }
        subs.push(nc.subscribe(address(topic), { callback: hear }), nc.subscribe(address(topic, peer), { callback: hear }))
        // Once the server has the subscriptions, every later message reaches this member.
        await nc.flush()
      } catch (error) {
        subs.forEach((s) => s.unsubscribe())
        await release()
        if (error instanceof CacheError) throw error // from open(): it says what failed
        throw new CacheError('ERR_COOP_CACHE_BUS_UNREACHABLE', `natsBus cannot subscribe on NATS at ${where}: ${(error as Error).message}`, { cause: error })
      }
      const member: BusMember = {
        broadcast: (message) => { if (!left) publish(nc, address(topic), message) },
        send: (to, message) => { if (!left) publish(nc, address(topic, to), message) },
        // The server's, as it said when the client connected (again): a server of a NATS
        // cluster may have its own.
        get maxMessage() {
          return nc.info?.max_payload ?? NATS_MAX_PAYLOAD
        },
        async leave() {
          if (left) return
          left = true
          subs.forEach((s) => s.unsubscribe())
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
