// Scenario 3: a hit that must cross threads. The cache has nearLimit: 0, so no thread keeps
// copies and every hit is a request to the key's owner thread and its reply. Measured from
// the main thread and from a worker thread that attach()es: latency of one call at a time,
// and throughput with 1,000 calls in flight; beside a bare postMessage round trip to a
// worker that echoes a small message, the floor any cross-thread design pays.
//
// To see where the time goes, two more round trips to the same echo worker are answered the
// way an owner answers (lib/echo-worker.ts): with the value cloned (small values), and with
// the value's v8 bytes that the asker deserializes (large values). And v8.deserialize alone.
//
// The comparison uses a cache with one owner thread (threads: 1) against one echo worker; a
// row with the default owner count (os.availableParallelism()) is given beside it.
//
// Alone: `npm run build && node dist/bench/cross-thread.js`

import { MessageChannel, isMainThread, parentPort, workerData, type MessagePort, type Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { deserialize, serialize } from 'node:v8'
import { attach, cached, createCache, type Cache, type CacheHandle } from 'coop-cache'
import { PIPE_AIM } from './lib/aims.js'
import { Rounds, between, latencies, latenciesSync, ns, pipelined, rate, ratio, table, throughputSync, type RoundsData } from './lib/measure.js'
import { ask, isEntry, runAlone, serve, startWorker, trace, unwrap, type Options, type Section } from './lib/scenario.js'
import type { EchoMode, EchoSetup } from './lib/echo-worker.js'

/** More distinct keys than calls in flight, so no two calls in flight share a key (a thread
 * joins calls for the same key into one request, which would flatter the figure). */
const KEYS = 2048
const IN_FLIGHT = 1000
const keys = Array.from({ length: KEYS }, (_, i) => `x:${i}`)
const valueOf = (i: number) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'] })
const valueSize = serialize(valueOf(7)).byteLength

interface Reply {
  readonly id: number
  readonly value?: unknown
  readonly bytes?: Uint8Array
}

/** The asking side of an echo port: one promise per message, settled by the answer's id. */
class Echo {
  readonly #port: MessagePort
  readonly #pending = new Map<number, (message: Reply) => void>()
  #id = 0

  constructor(port: MessagePort) {
    this.#port = port
    port.on('message', (message: Reply) => {
      const resolve = this.#pending.get(message.id)
      this.#pending.delete(message.id)
      resolve?.(message)
    })
  }

  /** Resolves with the reply's value: as it came, or deserialized from its bytes. */
  call(i: number): Promise<unknown> {
    const id = ++this.#id
    return new Promise((resolve) => {
      this.#pending.set(id, (message) => resolve(message.bytes !== undefined ? deserialize(message.bytes) : (message.value ?? message)))
      this.#port.postMessage({ type: 'get', id, key: keys[i % KEYS] })
    })
  }

  close(): void {
    this.#port.close()
  }
}

/** Opens a port to the echo worker in `mode`; returns this side's end. */
function echoPort(echo: Worker, mode: EchoMode): MessagePort {
  const { port1, port2 } = new MessageChannel()
  const setup: EchoSetup = { port: port2, mode, value: valueOf(7) }
  echo.postMessage(setup, [port2])
  return port1
}

interface Ports {
  readonly bare: MessagePort
  readonly clone: MessagePort
  readonly bytes: MessagePort
}

function echoPorts(echo: Worker): Ports {
  return { bare: echoPort(echo, 'echo'), clone: echoPort(echo, 'clone'), bytes: echoPort(echo, 'bytes') }
}

type Name = 'coop' | 'bare' | 'clone' | 'coopPipe' | 'barePipe' | 'clonePipe' | 'bytesPipe' | 'wide' | 'widePipe'

interface Figures {
  readonly results: Partial<Record<Name, RoundsData>>
  /** sync: v8.deserialize of the value's bytes, per call */
  readonly deserialize: RoundsData
  /** over the coop calls measured: owner hits, coalesced calls, near hits (sanity) */
  readonly calls: number
  readonly hits: number
  readonly coalesced: number
  readonly nearHits: number
}

interface Sizes {
  readonly latencyCalls: number
  readonly pipelinedCalls: number
}

async function measure(cache: Cache, wide: Cache | undefined, ports: Ports, rounds: number, sizes: Sizes): Promise<Figures> {
  const compute = async () => {
    throw new Error('a hot key was computed during the cross-thread benchmark')
  }
  const bare = new Echo(ports.bare)
  const clone = new Echo(ports.clone)
  const bytes = new Echo(ports.bytes)
  const coopOp = (i: number) => cached(cache, keys[i % KEYS] as string, compute)
  const subjects: Partial<Record<Name, { latency: boolean; op: (i: number) => Promise<unknown> }>> = {
    coop: { latency: true, op: coopOp },
    bare: { latency: true, op: (i) => bare.call(i) },
    clone: { latency: true, op: (i) => clone.call(i) },
    coopPipe: { latency: false, op: coopOp },
    barePipe: { latency: false, op: (i) => bare.call(i) },
    clonePipe: { latency: false, op: (i) => clone.call(i) },
    bytesPipe: { latency: false, op: (i) => bytes.call(i) },
  }
  if (wide !== undefined) {
    const wideOp = (i: number) => cached(wide, keys[i % KEYS] as string, compute)
    subjects.wide = { latency: true, op: wideOp }
    subjects.widePipe = { latency: false, op: wideOp }
  }
  const names = Object.keys(subjects) as Name[]
  const results = new Map(names.map((name) => [name, new Rounds()]))
  const once = async (name: Name, scale: number, into?: Rounds) => {
    trace(`cross-thread: ${name}${into === undefined ? ' (warm-up)' : ''}`)
    const { latency, op } = subjects[name] as { latency: boolean; op: (i: number) => Promise<unknown> }
    if (latency) {
      const sorted = await latencies(Math.ceil(sizes.latencyCalls * scale), op)
      into?.addLatencies(sorted)
      // one-at-a-time throughput is the inverse of the mean latency; kept for the record
      into?.addRate(sorted.length / (sorted.reduce((a, b) => a + b, 0) / 1e9))
    } else {
      into?.addRate(await pipelined(Math.ceil(sizes.pipelinedCalls * scale), IN_FLIGHT, op))
    }
  }
  const encoded = serialize(valueOf(7))
  const deserializing = new Rounds()
  const decodeOnce = (into?: Rounds) => {
    into?.addRate(throughputSync(sizes.pipelinedCalls, () => deserialize(encoded)))
    into?.addLatencies(latenciesSync(sizes.pipelinedCalls, () => deserialize(encoded)))
  }
  decodeOnce()
  for (const name of names) await once(name, 0.3) // warm up
  const before = await cache.stats()
  for (let round = 0; round < rounds; round++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(round + j) % names.length] as Name
      await between()
      await once(name, 1, results.get(name))
    }
    decodeOnce(deserializing)
  }
  const after = await cache.stats()
  bare.close()
  clone.close()
  bytes.close()
  return {
    results: Object.fromEntries(names.map((name) => [name, (results.get(name) as Rounds).toJSON()])),
    deserialize: deserializing.toJSON(),
    calls: rounds * (sizes.latencyCalls + sizes.pipelinedCalls),
    hits: after.hits - before.hits,
    coalesced: after.coalesced - before.coalesced,
    nearHits: after.nearHits - before.nearHits,
  }
}

async function fill(cache: Cache): Promise<void> {
  await Promise.all(keys.map((key, i) => cached(cache, key, async () => valueOf(i))))
}

export async function crossThread(options: Options): Promise<Section> {
  const sizes: Sizes = options.quick ? { latencyCalls: 1_000, pipelinedCalls: 10_000 } : { latencyCalls: 5_000, pipelinedCalls: 50_000 }
  const cache = await createCache({ name: 'bench-cross', nearLimit: 0, threads: 1 })
  const wideThreads = availableParallelism()
  const wide = wideThreads > 1 ? await createCache({ name: 'bench-cross-wide', nearLimit: 0, threads: wideThreads }) : undefined
  const echo = await startWorker(new URL('./lib/echo-worker.js', import.meta.url), 'echo')
  try {
    await fill(cache)
    if (wide !== undefined) await fill(wide)
    const main = await measure(cache, wide, echoPorts(echo), options.rounds, sizes)
    const worker = await startWorker(import.meta.url, 'cross-thread-worker')
    let inWorker: Figures
    try {
      const ports = echoPorts(echo)
      const request: WorkerRequest = { handle: cache.handle, ports, rounds: options.rounds, sizes }
      inWorker = unwrap(await ask<Figures>(worker, request, [ports.bare, ports.clone, ports.bytes]))
    } finally {
      await worker.terminate()
    }
    return report(main, inWorker, wideThreads, sizes, options)
  } finally {
    await echo.terminate()
    await cache.close()
    await wide?.close()
  }
}

const LABELS: Record<Name, string> = {
  coop: 'coop-cache hit, nearLimit 0, 1 owner thread',
  coopPipe: 'coop-cache hit, nearLimit 0, 1 owner thread',
  bare: 'bare round trip: echo of `{ type, id, key }`',
  barePipe: 'bare round trip: echo of `{ type, id, key }`',
  clone: "anatomy: round trip answered like an owner's hit on a small value (the value cloned)",
  clonePipe: "anatomy: round trip answered like an owner's hit on a small value (the value cloned)",
  bytesPipe: 'anatomy: the same answered with the value\'s v8 bytes, `v8.deserialize` on arrival (as for values over 16 KiB)',
  wide: 'coop-cache hit, nearLimit 0, default owner threads',
  widePipe: 'coop-cache hit, nearLimit 0, default owner threads',
}

function report(main: Figures, worker: Figures, wideThreads: number, sizes: Sizes, options: Options): Section {
  const label = (name: Name) => LABELS[name].replace('default owner threads', `${wideThreads} owner threads (the default)`)
  const latencyNames: Name[] = ['coop', 'bare', 'clone', 'wide']
  const pipeNames: Name[] = ['coopPipe', 'barePipe', 'clonePipe', 'bytesPipe', 'widePipe']
  const section = (f: Figures) => {
    const r = f.results
    const get = (name: Name) => r[name] as RoundsData
    const latencyRows = latencyNames.filter((n) => r[n] !== undefined).map((n) => [label(n), ns(get(n).p50), ns(get(n).p99), rate(get(n).rate)])
    const pipeRows = pipeNames.filter((n) => r[n] !== undefined).map((n) => [label(n), rate(get(n).rate), `${get(n).spread.toFixed(0)}%`])
    const latencyRatio = get('coop').p50 / get('bare').p50
    const pipeRatio = get('coopPipe').rate / get('barePipe').rate
    return {
      latencyRatio,
      pipeRatio,
      text: [
        table(['one call at a time', 'p50', 'p99', 'calls/s (1 / mean)'], latencyRows),
        '',
        table([`${IN_FLIGHT} calls in flight`, 'throughput', 'spread of rounds'], pipeRows),
        '',
        `Latency p50 coop / bare: **${ratio(latencyRatio)}** (aim: ≤ 1.50x). Pipelined throughput coop / bare: **${ratio(pipeRatio)}** (aim: ≥ ${ratio(PIPE_AIM)}). Against the owner-shaped round trip (value cloned): latency ${ratio(get('coop').p50 / get('clone').p50)}, throughput ${ratio(get('coopPipe').rate / get('clonePipe').rate)}.`,
        '',
        `Anatomy: \`v8.deserialize\` of the value's ${valueSize} bytes alone, in a loop: ${ns(1e9 / f.deserialize.rate)} per call (${rate(f.deserialize.rate)}).`,
        '',
        `Sanity: ${f.calls.toLocaleString('en-US')} coop calls measured; owner-side hits counted ${f.hits.toLocaleString('en-US')}, coalesced ${f.coalesced}, near hits ${f.nearHits} (expected: all hits, 0, 0).`,
      ].join('\n'),
    }
  }
  const m = section(main)
  const w = section(worker)
  const markdown = [
    `${KEYS} hot keys (more than the ${IN_FLIGHT} calls in flight, so no two calls in flight share a key and a thread cannot merge them), values \`{ id, name, tags }\` (${valueSize} bytes serialized) as in 1–2. Latency: ${sizes.latencyCalls.toLocaleString('en-US')} calls one at a time per round; throughput: ${sizes.pipelinedCalls.toLocaleString('en-US')} calls with ${IN_FLIGHT} in flight per round; ${options.rounds} rounds, subjects interleaved, medians over rounds. The bare and owner-shaped round trips go through a \`MessageChannel\` port to one echo worker, as coop-cache's links are \`MessageChannel\` ports; an owner-shaped reply is \`{ type, id, key, epoch, value, how, fence }\`.`,
    '',
    '### From the main thread',
    '',
    m.text,
    '',
    '### From a worker thread that `attach`es (1 owner thread)',
    '',
    w.text,
  ].join('\n')
  const figures: Record<string, number> = { wideThreads, valueSize, inFlight: IN_FLIGHT }
  for (const [who, f, s] of [
    ['main', main, m],
    ['worker', worker, w],
  ] as const) {
    for (const [name, data] of Object.entries(f.results)) {
      const key = `${who}${name[0]?.toUpperCase()}${name.slice(1)}`
      figures[`${key}Rate`] = data.rate
      figures[`${key}P50`] = data.p50
      figures[`${key}P99`] = data.p99
    }
    figures[`${who}Deserialize`] = 1e9 / f.deserialize.rate
    figures[`${who}LatencyRatio`] = s.latencyRatio
    figures[`${who}PipeRatio`] = s.pipeRatio
  }
  return { title: '3. Hit that must cross threads (nearLimit: 0)', markdown, figures }
}

interface WorkerRequest {
  readonly handle: CacheHandle
  readonly ports: Ports
  readonly rounds: number
  readonly sizes: Sizes
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === 'cross-thread-worker' && parentPort !== null) {
  serve(parentPort, async ({ handle, ports, rounds, sizes }: WorkerRequest) => {
    const cache = attach(handle)
    try {
      return await measure(cache, undefined, ports, rounds, sizes)
    } finally {
      await cache.close()
    }
  })
}

if (isEntry(import.meta.url)) await runAlone(crossThread)
