// coop-cache/otel: the cache's events, read by OpenTelemetry's own SDK. A reader collects what a
// real MeterProvider aggregated, as any exporter would; the events come from the channels (each
// one, published as the library publishes it) and from a real cache.
import test, { type ExecutionContext } from 'ava'
import { channel } from 'node:diagnostics_channel'
import { metrics } from '@opentelemetry/api'
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics'
import { CacheResetError, cached, createCache, invalidate, reset, set } from 'coop-cache'
import { CHANNELS, instrument } from 'coop-cache/otel'

/** Collects on demand, as a pull exporter (Prometheus) does. */
class Reader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

interface Recorded {
  readonly unit: string
  readonly points: readonly DataPoint<number | Histogram>[]
}

/** A provider with its reader, shut down when the test ends. */
function provider(t: ExecutionContext): { meterProvider: MeterProvider; collect(): Promise<Map<string, Recorded>> } {
  const reader = new Reader()
  const meterProvider = new MeterProvider({ readers: [reader] })
  t.teardown(() => meterProvider.shutdown())
  return {
    meterProvider,
    async collect() {
      const { resourceMetrics, errors } = await reader.collect()
      t.deepEqual(errors, [])
      const found = new Map<string, Recorded>()
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) found.set(metric.descriptor.name, { unit: metric.descriptor.unit, points: metric.dataPoints as DataPoint<number | Histogram>[] })
      }
      return found
    },
  }
}

/** The value of `name` for exactly these attributes (undefined: no such series). */
function value(recorded: Map<string, Recorded>, name: string, attributes: Record<string, unknown>): number | Histogram | undefined {
  const same = (a: Record<string, unknown>) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(attributes).sort())
  return recorded.get(name)?.points.find((p) => same(p.attributes))?.value
}

/** Every series of `name` for one cache, as `attributes (without cache) => value`. */
function series(recorded: Map<string, Recorded>, name: string, cache: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const { attributes, value: v } of recorded.get(name)?.points ?? []) {
    if (attributes.cache !== cache) continue
    const { cache: _, ...rest } = attributes
    out[JSON.stringify(rest)] = typeof v === 'number' ? v : v.count
  }
  return out
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(what: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms
  while (!(await what()) && Date.now() < end) await sleep(20)
  return what()
}

test.serial('each channel becomes its instrument, with the cache as an attribute and never the key', async (t) => {
  const { meterProvider, collect } = provider(t)
  t.teardown(instrument({ meterProvider }))
  const publish = (event: keyof typeof CHANNELS, message: object) => channel(CHANNELS[event]).publish(message)
  const cache = 'direct'
  publish('hit', { cache, key: '"a"', outcome: 'hit' })
  publish('hit', { cache, key: '"a"', outcome: 'near' })
  publish('hit', { cache, key: '"b"', outcome: 'near' })
  publish('miss', { cache, key: '"c"', outcome: 'computed' })
  publish('miss', { cache, key: '"c"', outcome: 'coalesced' })
  publish('computeStart', { cache, key: '"c"' })
  publish('computeStart', { cache, key: '"d"' })
  publish('computeStart', { cache, key: '"e"' })
  publish('computeEnd', { cache, key: '"c"', duration: 250, outcome: 'ok' })
  publish('computeEnd', { cache, key: '"d"', duration: 2, outcome: 'error', error: new CacheResetError('"d"') })
  publish('computeEnd', { cache, key: '"e"', duration: 3, outcome: 'error', error: new TypeError('nope') })
  publish('store', { cache, key: '"c"', bytes: 100 })
  publish('store', { cache, key: '"f"', bytes: 50 })
  publish('reject', { cache, key: '"g"', bytes: 7000 })
  publish('evict', { cache, key: '"c"', bytes: 100 })
  publish('reset', { cache, version: 2, own: true })
  publish('reset', { cache, version: 3, own: false })
  publish('invalidate', { cache, key: '"c"', prefix: false, own: true })
  publish('invalidate', { cache, key: '["page"]', prefix: true, own: false })
  publish('set', { cache, key: '"c"', prefix: false, own: false })
  publish('peerJoin', { cache, peer: 'p1' })
  publish('peerJoin', { cache, peer: 'p2' })
  publish('peerLeave', { cache, peer: 'p1' })
  publish('dropped', { cache })
  publish('hit', { cache: 'other', key: '"a"', outcome: 'remote' })

  const recorded = await collect()
  t.deepEqual(series(recorded, 'coop_cache.calls', cache), {
    '{"result":"hit","outcome":"hit"}': 1,
    '{"result":"hit","outcome":"near"}': 2,
    '{"result":"miss","outcome":"computed"}': 1,
    '{"result":"miss","outcome":"coalesced"}': 1,
  })
  t.deepEqual(series(recorded, 'coop_cache.calls', 'other'), { '{"result":"hit","outcome":"remote"}': 1 }, 'another cache is another series')
  t.deepEqual(series(recorded, 'coop_cache.computes', cache), {
    '{"outcome":"ok"}': 1,
    '{"outcome":"error","error.type":"ERR_COOP_CACHE_RESET"}': 1,
    '{"outcome":"error","error.type":"TypeError"}': 1,
  })
  t.is(value(recorded, 'coop_cache.computes.active', { cache }), 0, 'three started, three ended')
  const duration = value(recorded, 'coop_cache.compute.duration', { cache, outcome: 'ok' }) as Histogram
  t.is(recorded.get('coop_cache.compute.duration')?.unit, 's')
  t.like(duration, { count: 1, sum: 0.25 })
  t.deepEqual(duration.buckets.boundaries.slice(0, 6), [0.005, 0.01, 0.025, 0.05, 0.075, 0.1], 'buckets in seconds, not the SDK default made for milliseconds')
  t.deepEqual(duration.buckets.counts.slice(0, 8), [0, 0, 0, 0, 0, 0, 1, 0], 'in (0.1, 0.25]')
  for (const [name, expected] of [
    ['coop_cache.stores', 2], ['coop_cache.stored.bytes', 150],
    ['coop_cache.rejects', 1], ['coop_cache.rejected.bytes', 7000],
    ['coop_cache.evictions', 1], ['coop_cache.evicted.bytes', 100],
    ['coop_cache.peer.joins', 2], ['coop_cache.peer.leaves', 1],
    ['coop_cache.messages.dropped', 1],
  ] as const) {
    t.is(value(recorded, name, { cache }), expected, name)
  }
  t.is(recorded.get('coop_cache.stored.bytes')?.unit, 'By')
  t.deepEqual(series(recorded, 'coop_cache.resets', cache), { '{"origin":"own"}': 1, '{"origin":"peer"}': 1 })
  t.deepEqual(series(recorded, 'coop_cache.invalidations', cache), { '{"origin":"own","scope":"key"}': 1, '{"origin":"peer","scope":"prefix"}': 1 })
  t.deepEqual(series(recorded, 'coop_cache.sets', cache), { '{"origin":"peer"}': 1 })
  const names = new Set([...recorded.values()].flatMap((r) => r.points.flatMap((p) => Object.keys(p.attributes))))
  t.deepEqual([...names].sort(), ['cache', 'error.type', 'origin', 'outcome', 'result', 'scope'], 'no key, version or peer id: series stay bounded')
})

test.serial("a real cache's calls, computations, stores, resets, invalidations and sets are counted", async (t) => {
  const { meterProvider, collect } = provider(t)
  t.teardown(instrument({ meterProvider })) // before createCache: the owners forward stores only while someone listens
  const cache = await createCache({ name: 'otel-real', threads: 1, nearLimit: 0 })
  t.teardown(() => cache.close())
  const slow = () => sleep(30).then(() => 'v')
  await Promise.all([cached(cache, 'k', slow), cached(cache, 'k', slow)])
  await cached(cache, 'k', slow)
  await t.throwsAsync(cached(cache, 'bad', () => Promise.reject(new RangeError('down'))))
  await reset(cache, 2)
  await invalidate(cache, ['page'], { prefix: true })
  await set(cache, 'k', 'w')
  // "k" stored twice by the owner thread, which told this thread: computed, then set
  const stores = async () => value(await collect(), 'coop_cache.stores', { cache: 'otel-real' })
  t.true(await until(async () => (await stores()) === 2), `the owner thread's stores reach this thread (${String(await stores())})`)
  await sleep(200)
  t.is(await stores(), 2, 'and no more')

  const recorded = await collect()
  t.deepEqual(series(recorded, 'coop_cache.calls', 'otel-real'), {
    '{"result":"miss","outcome":"computed"}': 1,
    '{"result":"miss","outcome":"coalesced"}': 1,
    '{"result":"hit","outcome":"hit"}': 1,
  })
  t.deepEqual(series(recorded, 'coop_cache.computes', 'otel-real'), { '{"outcome":"ok"}': 1, '{"outcome":"error","error.type":"RangeError"}': 1 })
  const duration = value(recorded, 'coop_cache.compute.duration', { cache: 'otel-real', outcome: 'ok' }) as Histogram
  const seconds = duration.sum ?? Number.NaN
  t.true(seconds >= 0.025 && seconds < 10, `a computation of 30 ms recorded as ${seconds} s`)
  t.true((value(recorded, 'coop_cache.stored.bytes', { cache: 'otel-real' }) as number) > 0)
  t.is(value(recorded, 'coop_cache.resets', { cache: 'otel-real', origin: 'own' }), 1)
  t.is(value(recorded, 'coop_cache.invalidations', { cache: 'otel-real', origin: 'own', scope: 'prefix' }), 1)
  t.is(value(recorded, 'coop_cache.sets', { cache: 'otel-real', origin: 'own' }), 1)
})

test.serial('the function instrument returns unsubscribes from every channel: nothing is recorded after it', async (t) => {
  const { meterProvider, collect } = provider(t)
  const names = Object.values(CHANNELS)
  t.deepEqual(names.filter((name) => channel(name).hasSubscribers), [], 'no subscriber left by an earlier test')
  const uninstrument = instrument({ meterProvider })
  t.deepEqual(names.filter((name) => !channel(name).hasSubscribers), [], 'every channel has one')
  channel(CHANNELS.hit).publish({ cache: 'stop', key: '"a"', outcome: 'hit' })
  uninstrument()
  uninstrument() // again: nothing
  t.deepEqual(names.filter((name) => channel(name).hasSubscribers), [], 'a channel without subscribers costs the library one check')
  channel(CHANNELS.hit).publish({ cache: 'stop', key: '"a"', outcome: 'hit' })
  channel(CHANNELS.dropped).publish({ cache: 'stop' })
  const recorded = await collect()
  t.is(value(recorded, 'coop_cache.calls', { cache: 'stop', result: 'hit', outcome: 'hit' }), 1)
  t.is(value(recorded, 'coop_cache.messages.dropped', { cache: 'stop' }), undefined)
})

test.serial('without a meter or a provider it records on the global one; prefix renames every instrument', async (t) => {
  const { meterProvider, collect } = provider(t)
  t.true(metrics.setGlobalMeterProvider(meterProvider))
  t.teardown(() => metrics.disable())
  t.teardown(instrument({ prefix: 'app.cache' }))
  channel(CHANNELS.miss).publish({ cache: 'global', key: '"a"', outcome: 'remote' })
  const recorded = await collect()
  t.is(value(recorded, 'app.cache.calls', { cache: 'global', result: 'miss', outcome: 'remote' }), 1)
  t.false([...recorded.keys()].some((name) => name.startsWith('coop_cache.')))
})

test.serial('a message that is not an event is skipped: a metric never throws in the thread that publishes', async (t) => {
  const { meterProvider, collect } = provider(t)
  t.teardown(instrument({ meterProvider }))
  const thrown: unknown[] = []
  const onError = (error: unknown) => thrown.push(error)
  process.on('uncaughtException', onError)
  t.teardown(() => process.off('uncaughtException', onError))
  for (const name of Object.values(CHANNELS)) {
    for (const junk of [null, undefined, 'hit', {}, { cache: 7 }]) channel(name).publish(junk)
  }
  await sleep(20) // a subscriber's exception is rethrown on the next tick
  t.deepEqual(thrown, [])
  const recorded = await collect()
  t.deepEqual([...recorded.values()].flatMap((r) => r.points), [])
})

test('options are checked when instrument is called, naming the option', (t) => {
  t.throws(() => instrument({ prefix: '9lives' }), { instanceOf: TypeError, message: `options.prefix must start with a letter and hold only letters, digits, '_' and '.', not "9lives"` })
  t.throws(() => instrument({ prefix: 'a-b' }), { message: /^options\.prefix must/ })
  // @ts-expect-error not a meter
  t.throws(() => instrument({ meter: {} }), { instanceOf: TypeError, message: 'options.meter must be an OpenTelemetry Meter' })
  // @ts-expect-error not a provider
  t.throws(() => instrument({ meterProvider: 'prometheus' }), { instanceOf: TypeError, message: 'options.meterProvider must be an OpenTelemetry MeterProvider' })
  // @ts-expect-error not options
  t.throws(() => instrument(null), { instanceOf: TypeError, message: 'options must be an object of { meter, meterProvider, prefix }' })
  t.false(Object.values(CHANNELS).some((name) => channel(name).hasSubscribers), 'a refused call subscribes to nothing')
})
