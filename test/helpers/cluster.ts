// A cluster for a test: K peers of one cache on one bus, each with its own caller threads and
// its own board. On 'ipc', 'nats' and 'redis' every peer is a real process
// (fixtures/peer-process.ts) that a test can kill with SIGKILL; on 'memory' they are caches in
// the test's own process on one memoryBus. Either way a test gives the same orders
// (fixtures/cluster-peer.ts) and gets plain data back, and every wait is bounded, so that a
// broken guarantee fails the test instead of hanging it. Whatever the test did, t.teardown
// kills every process it started.
import type { ExecutionContext } from 'ava'
import { fork, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { createCache, ipcBus, memoryBus, peek, type Cache, type CacheStats, type IpcBus, type Key, type MemoryBus } from 'coop-cache'
import { encodeKey } from '../../src/shared/key.js'
import { peerOf } from '../../src/shared/ring.js'
import { ClusterPeer, waitFor, type Answers, type Order, type PeerState, type Stampede } from '../fixtures/cluster-peer.js'
import type { BusKind, PeerConfig, Request } from '../fixtures/peer-process.js'
import type { CallLife, FnSpec, Outcome } from './board.js'
import { brokerUrl } from './brokers.js'
import { ChildPeer } from './child-peer.js'

export { sleep } from '../fixtures/cluster-peer.js'
export type { Stampede, PeerState } from '../fixtures/cluster-peer.js'

/** How long an order may take before the test gives up on it, unless told otherwise. */
const ORDER_TIME = 30_000

export interface ClusterOptions {
  readonly bus: BusKind | 'memory'
  readonly size: number
  /** a word for the cache's name; a random suffix makes it (and so the topic) unique to the run */
  readonly name?: string
  /** owner threads per peer @default 2 */
  readonly threads?: number
  /** caller threads per peer @default 2 */
  readonly callers?: number
  /** @default 100 */
  readonly heartbeat?: number
  /** @default 1000 */
  readonly peerTimeout?: number
  /** every peer's initial version @default 0 */
  readonly version?: unknown
  /** the cache's replicas option @default the cache's default ('all') */
  readonly replicas?: number | 'all'
}

/** One peer of a test cluster, wherever it runs. */
export interface Peer {
  /** its place in the cluster's list, for messages */
  readonly index: number
  /** its peer id on the bus */
  readonly peer: string
  /** its process id, when it is a process of its own */
  readonly pid: number | undefined
  readonly alive: boolean
  /** Gives `order`; rejects when it is not done within `within` ms or the peer dies first. */
  do<O extends Order>(order: O, within?: number, issued?: () => void): Promise<Answers[O['op']]>
  /**
   * Every caller thread calls `calls` times at once for each key: `issued` once all are made.
   * With `options` (ttl, grace), each call passes them, and its outcome says how it came (`how`).
   */
  stampede(keys: readonly Key[], calls: number, spec: FnSpec, options?: CallLife): { readonly issued: Promise<void>; readonly done: Promise<Stampede> }
  /** The computations run in this peer, once at least `atLeast` have started. */
  computed(atLeast?: number): Promise<number>
  open(gate?: number): Promise<void>
  reset(version: unknown): Promise<Outcome>
  stats(local?: boolean): Promise<CacheStats>
  state(): Promise<PeerState>
  /** SIGKILL, for a process; resolves once it has exited. */
  kill(): Promise<void>
}

export interface Cluster {
  readonly name: string
  readonly peers: readonly Peer[]
  /** the in-process bus, on 'memory' */
  readonly bus: MemoryBus | undefined
  /** on 'ipc', the bus in this process that routes between the peers (a test may join it too) */
  readonly hub: IpcBus | undefined
  live(): Peer[]
  /** Resolves when every live peer sees exactly the live peers as members. */
  settled(within?: number): Promise<void>
  /** The live peer that owns `key`, by the library's own hashing over the live members. */
  ownerOf(key: Key): Peer
  /** The computations run so far, summed over the live peers. */
  computed(): Promise<number>
  /** Starts one more peer, as the first ones were, and resolves once it is ready (not once the others see it). */
  add(): Promise<Peer>
  /** Kills (or closes) every peer; called by t.teardown too. */
  close(): Promise<void>
}

/** Rejects with `what` when `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

abstract class BasePeer implements Peer {
  abstract readonly index: number
  abstract readonly peer: string
  abstract readonly pid: number | undefined
  abstract readonly alive: boolean
  abstract do<O extends Order>(order: O, within?: number, issued?: () => void): Promise<Answers[O['op']]>
  abstract kill(): Promise<void>

  stampede(keys: readonly Key[], calls: number, spec: FnSpec, options?: CallLife) {
    let issued!: () => void
    const issuedP = new Promise<void>((resolve) => (issued = resolve))
    const order = options === undefined ? { op: 'stampede' as const, keys, calls, spec } : { op: 'stampede' as const, keys, calls, spec, options }
    const done = this.do(order, ORDER_TIME, issued)
    // a stampede that fails before all its calls are made must not leave `issued` waiting
    return { issued: Promise.race([issuedP, done.then(() => {})]), done }
  }

  computed(atLeast = 0) {
    return this.do({ op: 'computed', atLeast, within: ORDER_TIME - 1000 })
  }

  async open(gate = 0) {
    await this.do({ op: 'open', gate })
  }

  reset(version: unknown) {
    return this.do({ op: 'reset', version })
  }

  stats(local = true) {
    return this.do({ op: 'stats', local })
  }

  state() {
    return this.do({ op: 'state' })
  }
}

class ProcessPeer extends BasePeer {
  readonly #process: ChildPeer

  constructor(index: number, child: ChildProcess) {
    super()
    this.#process = new ChildPeer(index, child)
  }

  get index() {
    return this.#process.index
  }

  get peer() {
    return this.#process.peer
  }

  get pid() {
    return this.#process.pid
  }

  get alive() {
    return this.#process.alive
  }

  /** Resolves once the process says it is ready. */
  ready(ms: number): Promise<void> {
    return this.#process.ready(ms)
  }

  do<O extends Order>(order: O, ms = ORDER_TIME, issued?: () => void): Promise<Answers[O['op']]> {
    return this.#process.order(order satisfies Request['order'], ms, issued)
  }

  kill(): Promise<void> {
    return this.#process.kill()
  }
}

class MemoryPeer extends BasePeer {
  readonly index: number
  readonly peer: string
  readonly pid = undefined
  readonly inner: ClusterPeer
  #ended = false

  constructor(index: number, inner: ClusterPeer) {
    super()
    this.index = index
    this.inner = inner
    this.peer = inner.cache.peer as string
  }

  get alive() {
    return !this.#ended
  }

  do<O extends Order>(order: O, ms = ORDER_TIME, issued?: () => void): Promise<Answers[O['op']]> {
    return within(this.inner.do(order, issued), ms, `peer ${this.index} to do ${JSON.stringify(order).slice(0, 120)}`)
  }

  async kill(): Promise<void> {
    throw new Error('a peer on a memoryBus is not a process: close its cache, or cut it off the bus')
  }

  async end(): Promise<void> {
    if (this.#ended) return
    this.#ended = true
    await this.inner.end()
  }
}

const fixture = fileURLToPath(new URL('../fixtures/peer-process.js', import.meta.url))

/** Starts a cluster of `options.size` peers, and waits until each of them sees all the others. */
export async function startCluster(t: ExecutionContext, options: ClusterOptions): Promise<Cluster> {
  const { bus, size, threads = 2, callers = 2, heartbeat = 100, peerTimeout = 1000, version = 0, replicas } = options
  const name = `${options.name ?? 'cluster'}-${randomUUID().slice(0, 8)}`
  const peers: (ProcessPeer | MemoryPeer)[] = []
  let hub: IpcBus | undefined
  let memory: MemoryBus | undefined
  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      await Promise.all(peers.map((p) => (p instanceof ProcessPeer ? p.kill() : within(p.end(), 10_000, `peer ${p.index} to close`).catch(() => {}))))
      hub?.close()
    })())
  t.teardown(close)

  const url = bus === 'ipc' || bus === 'memory' ? undefined : brokerUrl[bus]
  const config: PeerConfig | undefined = bus === 'memory' ? undefined : { bus, url, name, threads, callers, heartbeat, peerTimeout, version, replicas, lifetime: 90_000 }
  /** One more peer; a process is ready once it says so. */
  const start = async (): Promise<ProcessPeer | MemoryPeer> => {
    const index = peers.length
    if (config === undefined) {
      const resets: unknown[] = []
      const cache = await createCache({ name, bus: memory, threads, heartbeat, peerTimeout, version, replicas, onReset: (v) => resets.push(v) })
      const peer = new MemoryPeer(index, await ClusterPeer.start(cache, callers, resets))
      peers.push(peer)
      return peer
    }
    const child = fork(fixture, [JSON.stringify(config)], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    hub?.adopt(child)
    const peer = new ProcessPeer(index, child)
    peers.push(peer)
    await peer.ready(20_000)
    return peer
  }
  if (bus === 'memory') {
    memory = memoryBus()
    for (let index = 0; index < size; index++) await start()
  } else {
    // The parent of the peers routes the ipc bus between them, though it joins no cache itself;
    // it has a channel to the test runner, which runs no ipcBus: hence parent: false.
    if (bus === 'ipc') hub = ipcBus({ parent: false })
    await Promise.all(Array.from({ length: size }, start))
  }

  const cluster: Cluster = {
    name,
    peers,
    bus: memory,
    hub,
    live: () => peers.filter((p) => p.alive),
    async settled(ms = 10_000) {
      const live = cluster.live()
      await Promise.all(live.map((p) => p.do({ op: 'members', n: live.length, within: ms }, ms + 1000)))
    },
    ownerOf(key) {
      const ids = cluster.live().map((p) => p.peer).sort()
      const owner = peerOf(encodeKey(key), ids)
      return peers.find((p) => p.peer === owner) as Peer
    },
    async computed() {
      return (await Promise.all(cluster.live().map((p) => p.computed()))).reduce((a, b) => a + b, 0)
    },
    add: start,
    close,
  }
  await cluster.settled()
  return cluster
}

/** Every outcome of `runs` with its key, flattened. */
export function outcomesOf(runs: readonly Stampede[]): { key: Key; outcome: Outcome }[] {
  return runs.flatMap((run) => run.results.flatMap(({ key, outcomes }) => outcomes.map((outcome) => ({ key, outcome }))))
}

/** Polls until `check` holds, for at most `ms`; fails the test (and throws) saying `what` else. */
export async function eventually(t: ExecutionContext, what: () => string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  try {
    await waitFor(what, check, ms)
  } catch (error) {
    t.fail((error as Error).message)
    throw error
  }
}

/**
 * Polls until `cache` holds a value of its own for every one of `keys` (peek: in its process,
 * asking nobody), for at most `ms`; fails the test saying which `who` lacks else. Resolves with
 * the keys it lacks: none.
 */
export async function eventuallyHeld(t: ExecutionContext, cache: Cache, keys: readonly Key[], who: string, ms = 10_000): Promise<Key[]> {
  let missing: Key[] = []
  await eventually(t, () => `${who} holds no value for ${missing.length} of ${keys.length} keys: ${JSON.stringify(missing.slice(0, 20))}`, async () => {
    missing = []
    for (const key of keys) if ((await peek(cache, key)) === undefined) missing.push(key)
    return missing.length === 0
  }, ms)
  return missing
}
