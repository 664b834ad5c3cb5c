// What filling a cache to its memoryLimit adds to the process's RSS, at one value size: in a
// node process of its own (fillInChild), so that one fill's heap and freed memory weigh on no
// other. Scenario 6 of bench/memory.ts runs it at each size; test/memory-bounds-rss.test.ts too.
//
// The process creates the cache and a filler thread, which attaches to it and computes the
// values, so that the main thread stays idle and nothing keeps a near copy (nearLimit 0). The
// process's memory is read after a full collection in every thread (gc-hook.cts answers for
// the owner threads, which run no code of ours) twice: with the cache created and idle, and
// once filled. With 'reject' the filler offers values until one is rejected; with 'evict',
// until as many entries have been evicted as the cache holds (it has turned over once).
//
// The filler thread runs with a young generation of FILLER_YOUNG_MB, as the owner threads run
// with one of their own (host/supervisor.ts), so that what it allocates for its own work is a
// small, fixed cost.

import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { BroadcastChannel, Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { serialize } from 'node:v8'
import { attach, cached, createCache, type CacheHandle } from 'coop-cache'
import { ask, nextMessage, serve, unwrap } from './scenario.js'

/** `{ id }`, a string, a record with a few fields and a body, or a Buffer, of about `size` bytes serialized. */
export type Shape = 'id' | 'string' | 'fields' | 'buffer'

export interface Plan {
  readonly shape: Shape
  readonly size: number
  readonly policy: 'reject' | 'evict'
  readonly memoryLimit: number
  readonly threads: number
  /** offer exactly this many values instead of stopping once the cache is full */
  readonly offers?: number
}

/** The process's memory at one point, after a full collection in every thread. */
export interface Reading {
  readonly rss: number
  /** the owner threads' heap used and committed, and their external memory (ArrayBuffers) */
  readonly ownersHeapUsed: number
  readonly ownersHeapTotal: number
  readonly ownersExternal: number
  /** the filler thread's and the main thread's heap committed: the harness's own */
  readonly fillerHeapTotal: number
  readonly mainHeapTotal: number
}

export interface Filled {
  readonly plan: Plan
  /** one value's serialized size, and its key's length */
  readonly serialized: number
  readonly keyLength: number
  readonly offered: number
  readonly entries: number
  /** stats().bytes at the end: what the cache counted */
  readonly bytes: number
  readonly rejected: number
  readonly evicted: number
  /** with the cache created and the filler thread started; and once filled */
  readonly idle: Reading
  readonly full: Reading
  readonly seconds: number
}

/** What the owners hold more once filled than idle: heap used and external memory. */
export const ownersGrowth = (f: Filled) => f.full.ownersHeapUsed - f.idle.ownersHeapUsed + f.full.ownersExternal - f.idle.ownersExternal

const FILLER_YOUNG_MB = 8
const IN_FLIGHT = 64
/** stats() is read once at least this share of memoryLimit has been offered since the last look, to see whether the cache is full. */
const CHECK_SHARE = 1 / 32
const GC_CHANNEL = 'coop-bench-gc'

/** A distinct value of about `size` bytes serialized. */
export function valueOf(shape: Shape, size: number, i: number): unknown {
  switch (shape) {
    case 'id':
      return { id: i }
    case 'string': {
      const head = `${i}:`
      return head + 'x'.repeat(Math.max(0, size - 3 - head.length))
    }
    case 'fields': {
      const base = { id: i, name: `name ${i}`, active: i % 2 === 0, score: i / 7 }
      return { ...base, body: 'b'.repeat(Math.max(0, size - serialize(base).byteLength - 12)) + i }
    }
    case 'buffer': {
      const bytes = Buffer.alloc(Math.max(8, size - 16))
      bytes.writeUInt32LE(i, 0)
      return bytes
    }
  }
}

/** A key of a realistic length (about 45 characters). */
export const keyOf = (i: number) => `page:/products/category-${i % 97}/item-${i}?lang=en`

/** Runs `plan` in a node process of its own; resolves with what it measured. */
export async function fillInChild(plan: Plan): Promise<Filled> {
  const script = fileURLToPath(import.meta.url)
  const hook = fileURLToPath(new URL('./gc-hook.cjs', import.meta.url))
  const child = spawn(process.execPath, ['--expose-gc', '-r', hook, script, JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  const line = out.trim().split('\n').pop() ?? ''
  if (code !== 0 || !line.startsWith('{')) throw new Error(`the fill ${JSON.stringify(plan)} exited with ${code}: ${out.slice(-500)}`)
  return JSON.parse(line) as Filled
}

interface Answer {
  readonly threadId: number
  readonly heapUsed: number
  readonly heapTotal: number
  readonly external: number
}

/** The process's memory after a full collection in every thread (the owners and the filler answer the gc hook). */
async function collected(threads: number, filler: number): Promise<Reading> {
  const channel = new BroadcastChannel(GC_CHANNEL)
  const answers: Answer[] = []
  const all = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${answers.length} of ${threads + 1} threads answered the gc hook (is node started with -r gc-hook.cjs?)`)), 10_000)
    channel.onmessage = (event) => {
      answers.push((event as MessageEvent).data as Answer)
      if (answers.length === threads + 1) resolve(clearTimeout(timer))
    }
  })
  channel.postMessage('gc')
  try {
    await all
  } finally {
    channel.close()
  }
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('fill.ts runs under node --expose-gc')
  gc()
  gc()
  await new Promise((resolve) => setTimeout(resolve, 50))
  const owners = answers.filter((a) => a.threadId !== filler)
  const sum = (field: keyof Omit<Answer, 'threadId'>) => owners.reduce((s, a) => s + a[field], 0)
  const { rss, heapTotal } = process.memoryUsage()
  return {
    rss,
    ownersHeapUsed: sum('heapUsed'),
    ownersHeapTotal: sum('heapTotal'),
    ownersExternal: sum('external'),
    fillerHeapTotal: answers.find((a) => a.threadId === filler)?.heapTotal ?? 0,
    mainHeapTotal: heapTotal,
  }
}

async function main(plan: Plan): Promise<Filled> {
  const cache = await createCache({ name: `fill-${plan.shape}-${plan.size}-${plan.policy}`, memoryLimit: plan.memoryLimit, policy: plan.policy, threads: plan.threads, nearLimit: 0 })
  const worker = new Worker(new URL(import.meta.url), { workerData: { handle: cache.handle, plan }, resourceLimits: { maxYoungGenerationSizeMb: FILLER_YOUNG_MB } })
  await nextMessage(worker)
  const idle = await collected(plan.threads, worker.threadId)
  const filled = unwrap(await ask<{ offered: number; seconds: number } | { error: string }>(worker, 'fill'))
  const full = await collected(plan.threads, worker.threadId)
  const stats = await cache.stats()
  await worker.terminate()
  await cache.close()
  return {
    plan,
    serialized: serialize(valueOf(plan.shape, plan.size, 1)).byteLength,
    keyLength: keyOf(1).length,
    offered: filled.offered,
    entries: stats.entries,
    bytes: stats.bytes,
    rejected: stats.rejected,
    evicted: stats.evicted,
    idle,
    full,
    seconds: filled.seconds,
  }
}

/** The filler thread: offers values until the cache is full (see the top of this file). */
async function fill(handle: CacheHandle, plan: Plan): Promise<{ offered: number; seconds: number }> {
  const cache = attach(handle)
  const size = serialize(valueOf(plan.shape, plan.size, 0)).byteLength
  // Large values a few at a time, so that the filling stops close to where the cache is full.
  const batch = Math.max(1, Math.min(IN_FLIGHT, Math.floor((plan.memoryLimit * CHECK_SHARE) / (size + 300))))
  const start = process.hrtime.bigint()
  let offered = 0
  let since = 0
  for (;;) {
    const from = offered
    await Promise.all(Array.from({ length: batch }, (_, k) => cached(cache, keyOf(from + k), () => valueOf(plan.shape, plan.size, from + k))))
    offered += batch
    since += batch * (size + 300)
    if (plan.offers !== undefined) {
      if (offered >= plan.offers) break
      continue
    }
    if (since < plan.memoryLimit * CHECK_SHARE) continue
    since = 0
    const stats = await cache.stats()
    if (plan.policy === 'reject' ? stats.rejected > 0 : stats.evicted >= stats.entries) break
  }
  return { offered, seconds: Number(process.hrtime.bigint() - start) / 1e9 }
}

if (!isMainThread && parentPort !== null && (workerData as { plan?: Plan }).plan !== undefined) {
  const { handle, plan } = workerData as { handle: CacheHandle; plan: Plan }
  serve(parentPort, async () => fill(handle, plan))
} else if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await main(JSON.parse(process.argv[2] as string) as Plan)))
}
