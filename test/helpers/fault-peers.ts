// Peers for the fault tests: real processes (fixtures/fault-peer.ts) on an ipc, NATS or Redis
// bus, which a test can SIGSTOP, SIGCONT and SIGKILL, block, and give orders to. Each order is
// bounded: a broken guarantee fails the test rather than hanging it. Whatever the test did,
// t.teardown kills every process it started.
import type { ExecutionContext } from 'ava'
import { fork } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { ipcBus, type IpcBus } from 'coop-cache'
import { encodeKey } from '../../src/shared/key.js'
import { peerOf } from '../../src/shared/ring.js'
import type { FaultAnswers, FaultBus, FaultOrder, FaultPeerConfig, FaultRequest } from '../fixtures/fault-peer.js'
import { ChildPeer } from './child-peer.js'
import type { ClockStep } from './clock-step.js'

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
  /** @default the cache's default ('all') */
  readonly replicas?: number | 'all'
  /** what differs for peer i */
  readonly each?: (index: number) => Partial<FaultPeerConfig>
  /** a wall clock the test steps, for peer i (helpers/clock-step.ts) */
  readonly clock?: (index: number) => ClockStep | undefined
}

export class FaultPeer extends ChildPeer {
  /** Gives `order`; rejects when it is not done within `ms` or the process dies first. */
  do<O extends FaultOrder>(order: O, ms = ORDER_TIME): Promise<FaultAnswers[O['op']]> {
    return this.order(order satisfies FaultRequest['order'], ms)
  }

  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    if (this.ended === undefined) this.child.kill(signal)
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
      version: options.version ?? 'v1', replicas: options.replicas, lifetime: 90_000, ...options.each?.(index),
    }
    const clock = options.clock?.(index)
    const child = fork(fixture, [JSON.stringify(config)], {
      execArgv: ['--no-warnings', ...(clock?.execArgv ?? [])], env: { ...process.env, ...clock?.env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
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
