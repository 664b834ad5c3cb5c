// One cache shared by the main thread and four worker threads: each value is computed once,
// by whichever thread asked first, and every other thread waits for it.
// Run with `npm run example:threads`.
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker, threadId } from 'node:worker_threads'
import { createCache, cached, type CacheHandle } from 'coop-cache'

/** What the workers are given. */
export interface ThreadsWorkerData {
  /** `cache.handle`: plain cloneable data (shared memory), so any number of threads can have it */
  readonly cache: CacheHandle
  /** slot 0 counts computations in every thread: an Int32Array over a SharedArrayBuffer */
  readonly counter: Int32Array
  readonly keys: number
  readonly callsPerKey: number
}

/** The cached value: which thread computed it. */
export interface Report {
  readonly id: number
  readonly computedBy: number
}

const KEYS = 5
const CALLS_PER_KEY = 10
const WORKERS = 4

const cache = await createCache({ name: 'reports', threads: 2 })
const counter = new Int32Array(new SharedArrayBuffer(4))

async function report(id: number): Promise<Report> {
  Atomics.add(counter, 0, 1)
  await sleep(200)
  return { id, computedBy: threadId }
}

const data: ThreadsWorkerData = { cache: cache.handle, counter, keys: KEYS, callsPerKey: CALLS_PER_KEY }
const workers = Array.from({ length: WORKERS }, () => new Worker(new URL('./threads-worker.js', import.meta.url), { workerData: data }))
// Listen for 'exit' now: a worker that finishes before we listen would never be heard from.
const exited = Promise.all(workers.map((worker) => once(worker, 'exit')))

// Workers take a while to start; hold the race until they are all ready, then go together.
await Promise.all(workers.map((worker) => once(worker, 'message')))
const answers = workers.map(async (worker) => (await once(worker, 'message'))[0] as Report[])
for (const worker of workers) worker.postMessage('go')

const mine: Promise<Report>[] = []
for (let id = 0; id < KEYS; id++) {
  for (let i = 0; i < CALLS_PER_KEY; i++) mine.push(cached(cache, ['report', id], () => report(id)))
}
const all = [await Promise.all(mine), ...(await Promise.all(answers))].flat()

console.log(`${Atomics.load(counter, 0)} computations for ${all.length} calls from ${WORKERS + 1} threads`)
// Every thread got the same value for a key, whichever thread computed it.
const values = new Set(all.map((r) => `${r.id}:${r.computedBy}`))
const computers = [...new Set(all.map((r) => r.computedBy))].sort()
console.log(`${values.size} distinct values among them, computed in thread ${computers.join(', ')} (0 is the main thread)`)

const { computes, coalesced, hits, entries } = await cache.stats()
console.log('stats:', { computes, coalesced, hits, entries })

await exited
await cache.close()
