// The OpenTelemetry adapter: it subscribes to the cache's diagnostics channels (events/channels.ts)
// and turns each event into a measurement. It holds no state of its own beyond its instruments,
// and it never records a key: a metric per key would have no bound on its series.
//
// It uses only @opentelemetry/api, an optional peer. Types are all it imports at load time; the
// API itself is loaded when instrument() needs the global meter provider, so that a user who
// passes a meter or a provider of their own needs nothing more, and one who has neither learns
// what to install from a coded error. Like the channels, it is per thread: it sees the events
// of the thread it runs in.
import { createRequire } from 'node:module'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { Attributes, Meter, MeterProvider } from '@opentelemetry/api'
import {
  CHANNELS,
  type ComputeEndEvent,
  type ComputeStartEvent,
  type DroppedEvent,
  type EntryEvent,
  type HitEvent,
  type KeyChangeEvent,
  type MissEvent,
  type PeerEvent,
  type ResetEvent,
} from '../events/channels.js'
import { CacheError } from '../shared/errors.js'

export { CHANNELS } from '../events/channels.js'
export type {
  HitEvent,
  MissEvent,
  ComputeStartEvent,
  ComputeEndEvent,
  EntryEvent,
  ResetEvent,
  KeyChangeEvent,
  PeerEvent,
  DroppedEvent,
} from '../events/channels.js'

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /**
   * The meter to create the instruments on. Takes precedence over `meterProvider`.
   * @default meterProvider.getMeter('coop-cache', <this package's version>)
   */
  readonly meter?: Meter
  /**
   * The provider to get the meter from, for an application that does not register its provider
   * globally.
   * @default the global provider of @opentelemetry/api (`metrics.getMeterProvider()`)
   */
  readonly meterProvider?: MeterProvider
  /**
   * The first part of every instrument's name: `<prefix>.calls`, `<prefix>.compute.duration`...
   * Prometheus exporters turn the dots into underscores (`coop_cache_calls_total`).
   * @default 'coop_cache'
   */
  readonly prefix?: string
}

/** Buckets of the compute duration, in seconds: those of OpenTelemetry's HTTP durations, up to a minute. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60]

/**
 * Records the cache's events as OpenTelemetry metrics, until the function it returns is called.
 * Every measurement carries the attribute `cache`, the cache's name; none carries a key.
 *
 * | instrument | kind | attributes |
 * | --- | --- | --- |
 * | `coop_cache.calls` | counter | `result` (`hit`, `miss`), `outcome` (hit: `hit`, `near`, `stale`, `remote`; miss: `computed`, `coalesced`, `remote`) |
 * | `coop_cache.computes` | counter, at each end | `outcome` (`ok`, `error`, `fenced`), `error.type` on errors |
 * | `coop_cache.computes.active` | up-down counter | |
 * | `coop_cache.compute.duration` | histogram, seconds | as `coop_cache.computes` |
 * | `coop_cache.stores`, `.rejects`, `.evictions` | counters | |
 * | `coop_cache.stored.bytes`, `.rejected.bytes`, `.evicted.bytes` | counters, bytes | |
 * | `coop_cache.resets`, `.sets` | counters | `origin` (`own`, `peer`) |
 * | `coop_cache.invalidations` | counter | `origin`, `scope` (`key`, `prefix`) |
 * | `coop_cache.peer.joins`, `.peer.leaves` | counters | |
 * | `coop_cache.messages.dropped` | counter | |
 *
 * Channels are per thread: calls are seen in the thread that made them, the rest in the thread
 * that created the cache. Each call of instrument() subscribes once more: call it once per
 * thread. Throws a `CacheError` with code `ERR_COOP_CACHE_OTEL_API_MISSING` when it needs
 * @opentelemetry/api (neither `meter` nor `meterProvider` given) and that is not installed.
 *
 * @returns a function that unsubscribes: nothing is recorded after it, and calling it again does nothing.
 */
export function instrument(options: InstrumentOptions = {}): () => void {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object of { meter, meterProvider, prefix }')
  const { meter: given, meterProvider, prefix = 'coop_cache' } = options
  if (given !== undefined && typeof given?.createCounter !== 'function') throw new TypeError('options.meter must be an OpenTelemetry Meter')
  if (meterProvider !== undefined && typeof meterProvider?.getMeter !== 'function') throw new TypeError('options.meterProvider must be an OpenTelemetry MeterProvider')
  // OpenTelemetry's instrument name syntax, less the characters Prometheus cannot keep apart.
  if (typeof prefix !== 'string' || !/^[A-Za-z][A-Za-z0-9_.]{0,200}$/.test(prefix)) {
    throw new TypeError(`options.prefix must start with a letter and hold only letters, digits, '_' and '.', not ${JSON.stringify(prefix)}`)
  }
  const meter = given ?? (meterProvider ?? globalProvider()).getMeter('coop-cache', version())
  const name = (rest: string) => `${prefix}.${rest}`

  const calls = meter.createCounter(name('calls'), { description: 'Calls, by result (hit or miss) and how they were served (outcome)', unit: '{call}' })
  const computes = meter.createCounter(name('computes'), { description: 'Computations of a value (fn) that ended, by outcome', unit: '{computation}' })
  const active = meter.createUpDownCounter(name('computes.active'), { description: 'Computations of a value (fn) under way', unit: '{computation}' })
  const duration = meter.createHistogram(name('compute.duration'), {
    description: 'How long a computation of a value (fn) took, by outcome',
    unit: 's',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  })
  const entries = (what: string, verb: string) => [
    meter.createCounter(name(what), { description: `Entries ${verb}`, unit: '{entry}' }),
    meter.createCounter(name(`${verb}.bytes`), { description: `Bytes of the entries ${verb}`, unit: 'By' }),
  ] as const
  const [stores, storedBytes] = entries('stores', 'stored')
  const [rejects, rejectedBytes] = entries('rejects', 'rejected')
  const [evictions, evictedBytes] = entries('evictions', 'evicted')
  const resets = meter.createCounter(name('resets'), { description: 'Resets to a new version, by this process (own) or a peer', unit: '{reset}' })
  const invalidations = meter.createCounter(name('invalidations'), { description: 'Invalidations of a key or a prefix (scope), by this process (own) or a peer', unit: '{invalidation}' })
  const sets = meter.createCounter(name('sets'), { description: 'Values set by set(), by this process (own) or a peer', unit: '{set}' })
  const joins = meter.createCounter(name('peer.joins'), { description: 'Peers that became members', unit: '{peer}' })
  const leaves = meter.createCounter(name('peer.leaves'), { description: 'Peers that stopped being members', unit: '{peer}' })
  const dropped = meter.createCounter(name('messages.dropped'), { description: 'Messages refused: malformed, unsigned, replayed, for another reset, about another key', unit: '{message}' })

  const origin = (own: boolean) => (own ? 'own' : 'peer')
  const ended = (e: ComputeEndEvent): Attributes => (e.outcome === 'error' ? { cache: e.cache, outcome: e.outcome, 'error.type': errorType(e.error) } : { cache: e.cache, outcome: e.outcome })
  const stored = (count: typeof stores, bytes: typeof stores) => (e: EntryEvent) => {
    count.add(1, { cache: e.cache })
    bytes.add(e.bytes, { cache: e.cache })
  }
  const handlers: Record<keyof typeof CHANNELS, (message: never) => void> = {
    hit: (e: HitEvent) => calls.add(1, { cache: e.cache, result: 'hit', outcome: e.outcome }),
    miss: (e: MissEvent) => calls.add(1, { cache: e.cache, result: 'miss', outcome: e.outcome }),
    computeStart: (e: ComputeStartEvent) => active.add(1, { cache: e.cache }),
    computeEnd: (e: ComputeEndEvent) => {
      active.add(-1, { cache: e.cache })
      const attributes = ended(e)
      computes.add(1, attributes)
      duration.record(e.duration / 1000, attributes)
    },
    store: stored(stores, storedBytes),
    reject: stored(rejects, rejectedBytes),
    evict: stored(evictions, evictedBytes),
    reset: (e: ResetEvent) => resets.add(1, { cache: e.cache, origin: origin(e.own) }),
    invalidate: (e: KeyChangeEvent) => invalidations.add(1, { cache: e.cache, origin: origin(e.own), scope: e.prefix ? 'prefix' : 'key' }),
    set: (e: KeyChangeEvent) => sets.add(1, { cache: e.cache, origin: origin(e.own) }),
    peerJoin: (e: PeerEvent) => joins.add(1, { cache: e.cache }),
    peerLeave: (e: PeerEvent) => leaves.add(1, { cache: e.cache }),
    dropped: (e: DroppedEvent) => dropped.add(1, { cache: e.cache }),
  }
  const subscribed = Object.entries(handlers).map(([event, handler]) => {
    // A throwing subscriber would surface as an uncaught exception in the publisher's thread:
    // a malformed message is skipped instead (a metric is not worth a crash).
    const listener = (message: unknown) => {
      if (typeof message !== 'object' || message === null || typeof (message as { cache?: unknown }).cache !== 'string') return
      try {
        handler(message as never)
      } catch {
        // the SDK refused the measurement; it has said why through its own diagnostics
      }
    }
    const channel = CHANNELS[event as keyof typeof CHANNELS]
    subscribe(channel, listener)
    return () => unsubscribe(channel, listener)
  })
  let done = false
  return () => {
    if (done) return
    done = true
    for (const stop of subscribed) stop()
  }
}

// Loaded with require: instrument() is synchronous, and the API keeps its registered provider in
// a global that its CommonJS and ES module builds share.
const load = createRequire(import.meta.url)

function globalProvider(): MeterProvider {
  let api: typeof import('@opentelemetry/api')
  try {
    api = load('@opentelemetry/api') as typeof import('@opentelemetry/api')
  } catch (cause) {
    throw new CacheError(
      'ERR_COOP_CACHE_OTEL_API_MISSING',
      'instrument() needs the OpenTelemetry API: npm install @opentelemetry/api (or pass options.meter or options.meterProvider)',
      { cause },
    )
  }
  return api.metrics.getMeterProvider()
}

let packageVersion: string | undefined
function version(): string {
  // dist/src/otel/index.js, three levels under the package's root
  packageVersion ??= (load('../../../package.json') as { version: string }).version
  return packageVersion
}

/** `error.type`, as OpenTelemetry's conventions have it: a coded error's code, else its class. */
function errorType(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && code !== '') return code
  const name = (error as { name?: unknown } | null)?.name
  return typeof name === 'string' && name !== '' ? name : '_OTHER'
}
