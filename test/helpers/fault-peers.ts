// Peers for the fault tests: real processes (fixtures/fault-peer.ts) on an ipc, NATS or Redis
// bus, which a test can SIGSTOP, SIGCONT and SIGKILL, block, and give orders to. Each order is
// bounded: a broken guarantee fails the test rather than hanging it. Whatever the test did,
// t.teardown kills every process it started.
import type { ExecutionContext } from 'ava'
import { fork, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { ipcBus, type IpcBus } from 'coop-cache'
import { encodeKey } from '../../src/shared/key.js'
import { peerOf } from '../../src/shared/ring.js'
import type { FaultAnswers, FaultBus, FaultOrder, FaultPeerConfig, FaultReport, FaultRequest } from '../fixtures/fault-peer.js'
import { within } from './cluster.js'

export type { Call, Made, Pending } from '../fixtures/call-log.js'
export { sleep } from '../fixtures/call-log.js'

/** How long an order may take, unless told otherwise. */
const ORDER_TIME = 20_000

export interface FaultPeersOptions {
  readonly bus: FaultBus
  /** the broker's URL, for nats and redis */
  readonly url?: string
  readonly size: number
  /** a word for the cache's name; a random suffix makes it unique to the run */
  readonly name?: string
  /** owner threads per peer @default 1 */
  readonly threads?: number
  /** @default 100 */
  readonly heartbeat?: number
  /** @default 1000 */
  readonly peerTimeout?: number
  /** @default 0 */
  readonly computeTimeout?: number
  /** @default 'compute' */
  readonly partition?: 'compute' | 'reject'
  /** @default 'v1' */
  readonly version?: unknown
  /** what differs for peer i */
  readonly each?: (index: number) => Partial<FaultPeerConfig>
}

export class FaultPeer {
  readonly index: number
  readonly child: ChildProcess
  peer = ''
  /** how the process ended: a signal's name, `code N`; undefined while it runs */
  ended: string | undefined
  readonly exited: Promise<void>
  readonly #pending = new Map<number, { resolve: (answer: never) => void; reject: (error: Error) => void }>()
  #lastId = 0

  constructor(index: number, child: ChildProcess) {
    this.index = index
    this.child = child
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.ended = signal ?? `code ${code}`
        for (const pending of this.#pending.values()) pending.reject(new Error(`peer ${index} (pid ${child.pid}) exited with ${this.ended}`))
        this.#pending.clear()
        resolve()
      })
    })
    child.on('error', () => {})
    child.on('message', (report: FaultReport | Record<string, unknown>) => {
      if ('coop-cache' in report || !('id' in report)) return
      const r = report as Extract<FaultReport, { id: number }>
      const pending = this.#pending.get(r.id)
      if (pending === undefined) return
      this.#pending.delete(r.id)
      if (r.event === 'answer') pending.resolve(r.answer as never)
      else pending.reject(new Error(`peer ${index} (pid ${child.pid}) failed an order: ${r.message}`))
    })
  }

  get pid(): number {
    return this.child.pid as number
  }

  get alive(): boolean {
    return this.ended === undefined
  }

  /** Resolves once the process says it is ready. */
  ready(ms: number): Promise<void> {
    return within(
      new Promise<void>((resolve, reject) => {
        const onMessage = (report: FaultReport | Record<string, unknown>) => {
          if (report.event === 'ready') {
            this.peer = (report as { peer: string }).peer
            this.child.off('message', onMessage)
            resolve()
          } else if (report.event === 'failed') reject(new Error(`peer ${this.index} could not start: ${(report as { message: string }).message}`))
        }
        this.child.on('message', onMessage)
        void this.exited.then(() => reject(new Error(`peer ${this.index} exited with ${this.ended} before it was ready`)))
      }),
      ms,
      `peer ${this.index} (pid ${this.child.pid}) to start`,
    )
  }

  /** Gives `order`; rejects when it is not done within `ms` or the process dies first. */
  do<O extends FaultOrder>(order: O, ms = ORDER_TIME): Promise<FaultAnswers[O['op']]> {
    if (this.ended !== undefined) return Promise.reject(new Error(`peer ${this.index} (pid ${this.pid}) exited with ${this.ended}`))
    const id = ++this.#lastId
    const answer = new Promise<FaultAnswers[O['op']]>((resolve, reject) => this.#pending.set(id, { resolve, reject }))
    this.child.send({ id, order } satisfies FaultRequest, (error) => {
      if (error) this.#pending.get(id)?.reject(error)
    })
    return within(answer, ms, `peer ${this.index} (pid ${this.pid}) to do ${JSON.stringify(order).slice(0, 100)}`)
  }

  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    if (this.ended === undefined) this.child.kill(signal)
  }

  async kill(): Promise<void> {
    if (this.ended === undefined) {
      this.child.kill('SIGCONT')
      this.child.kill('SIGKILL')
    }
    await this.exited
  }
}

export interface FaultPeers {
  readonly name: string
  readonly peers: readonly FaultPeer[]
  /** on 'ipc': the bus in this process that routes between the peers; a test may join it */
  readonly hub: IpcBus | undefined
  /** Resolves when every peer sees `n` members (all of them, by default). */
  settled(n?: number, ms?: number): Promise<void>
  /** The peer that owns `key` among all the peers, by the library's own hashing. */
  ownerOf(key: string): FaultPeer
  /** `count` keys `${prefix}N` owned by `peer`. */
  keysOf(peer: FaultPeer, count: number, prefix?: string): string[]
}

const fixture = fileURLToPath(new URL('../fixtures/fault-peer.js', import.meta.url))

/** Starts `options.size` fault peers of one cache, and waits until each sees all the others. */
export async function startFaultPeers(t: ExecutionContext, options: FaultPeersOptions): Promise<FaultPeers> {
  const name = `${options.name ?? 'faults'}-${randomUUID().slice(0, 8)}`
  const hub = options.bus === 'ipc' ? ipcBus({ parent: false }) : undefined
  const peers: FaultPeer[] = []
  t.teardown(async () => {
    await Promise.all(peers.map((p) => p.kill()))
    hub?.close()
  })
  for (let index = 0; index < options.size; index++) {
    const config: FaultPeerConfig = {
      bus: options.bus, url: options.url, name, threads: options.threads ?? 1, heartbeat: options.heartbeat ?? 100,
      peerTimeout: options.peerTimeout ?? 1000, computeTimeout: options.computeTimeout ?? 0, partition: options.partition ?? 'compute',
      version: options.version ?? 'v1', lifetime: 90_000, ...options.each?.(index),
    }
    const child = fork(fixture, [JSON.stringify(config)], { execArgv: ['--no-warnings'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    hub?.adopt(child)
    peers.push(new FaultPeer(index, child))
  }
  await Promise.all(peers.map((p) => p.ready(20_000)))
  const ids = () => peers.map((p) => p.peer).sort()
  const group: FaultPeers = {
    name,
    peers,
    hub,
    async settled(n = peers.length, ms = 10_000) {
      await Promise.all(peers.filter((p) => p.alive).map((p) => p.do({ op: 'members', n, within: ms }, ms + 2000)))
    },
    ownerOf: (key) => peers.find((p) => p.peer === peerOf(encodeKey(key), ids())) as FaultPeer,
    keysOf(peer, count, prefix = 'key-') {
      const keys: string[] = []
      for (let i = 0; keys.length < count; i++) if (group.ownerOf(`${prefix}${i}`) === peer) keys.push(`${prefix}${i}`)
      return keys
    },
  }
  await group.settled()
  return group
}

/**
 * A wrapper that makes the tests it wraps run one after the other, though declared concurrent
 * (brokerTest declares them so): each of them runs processes enough for the machine.
 */
export function oneAtATime(): (run: (t: ExecutionContext) => Promise<void>) => (t: ExecutionContext) => Promise<void> {
  let turn = Promise.resolve()
  return (run) => async (t) => {
    const mine = turn
    let done!: () => void
    turn = new Promise((resolve) => (done = resolve))
    await mine
    try {
      await run(t)
    } finally {
      done()
    }
  }
}
