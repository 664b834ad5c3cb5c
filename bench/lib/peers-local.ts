// The parts of scenario 8 (bench/peers.ts) that need no broker: what a cache's entries cost in
// memory and how fast it fills (each fill in a fresh process, lib/fill-process.ts), and a cold-key
// stampede inside one process — coop-cache beside lru-cache each time.

import { setTimeout as sleep } from 'node:timers/promises'
import { LRUCache } from 'lru-cache'
import { cached, createCache } from 'coop-cache'
import { callTogether } from './callers.js'
import { between } from './measure.js'
import type { FillCommand, Filled, Shape } from './fill-process.js'
import { startPeer } from './processes.js'
import { trace } from './scenario.js'

export type FillLib = FillCommand['lib']

/** ms each `fn` of the one-process stampede takes */
export const LOCAL_COMPUTE_MS = 20

/** One fill in a fresh process (with gc exposed, so that RSS is read after a collection). */
export async function fillOnce(lib: FillLib, shape: Shape, n: number): Promise<Filled> {
  trace(`peers: fill ${lib} ${shape} ${n}`)
  const child = await startPeer(new URL('./fill-process.js', import.meta.url), 'peers-fill', `${lib}-${shape}-${n}`, ['--expose-gc'])
  try {
    return await child.ask<Filled>({ cmd: 'fill', lib, shape, n } satisfies FillCommand)
  } finally {
    await child.ask({ cmd: 'exit' }).catch(() => undefined)
    if (child.process.exitCode === null) await new Promise((resolve) => child.process.once('exit', resolve))
  }
}

export interface LocalRound {
  readonly computations: number
  readonly wallMs: number
  readonly wrong: number
  readonly errors: string[]
}

/**
 * One cold-key stampede in this process: `callers` calls started together on `keys` cold keys,
 * each `fn` counting itself and taking LOCAL_COMPUTE_MS; a fresh cache (coop-cache with its default
 * options, made before the clock starts) or a fresh lru-cache with a fetchMethod.
 */
export async function localStampede(lib: FillLib, sizes: { callers: number; keys: number }, round: number): Promise<LocalRound> {
  trace(`peers: one-process stampede ${lib}, round ${round}`)
  let computations = 0
  const compute = async (key: string) => {
    computations++
    await sleep(LOCAL_COMPUTE_MS)
    return { key }
  }
  const cache = lib === 'coop' ? await createCache({ name: `bench-peers-local-${round}` }) : undefined
  const lru = new LRUCache<string, { key: string }>({ max: 10_000, fetchMethod: (key) => compute(key) })
  const ask = cache !== undefined ? (key: string) => cached(cache, key, () => compute(key)) : (key: string) => lru.fetch(key)
  try {
    await between()
    const start = performance.now()
    const { wrong, errors } = await callTogether(sizes.callers, (j) => `cold:${round}:${j % sizes.keys}`, ask)
    return { computations, wallMs: performance.now() - start, wrong, errors }
  } finally {
    await cache?.close()
  }
}
