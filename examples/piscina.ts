// A piscina pool whose tasks share one cache with each other and with the main thread.
// Run with `npm run example:piscina`.
import { Piscina } from 'piscina'
import { createCache, cached, type CacheHandle } from 'coop-cache'

/** The pool's workerData: every worker of the pool gets the same. */
export interface PoolData {
  /** `cache.handle`: plain cloneable data, which a pool can give to every worker it starts */
  readonly cache: CacheHandle
  /** slot 0 counts computations in every thread: an Int32Array over a SharedArrayBuffer */
  readonly counter: Int32Array
}

/** The cached value: which thread computed it. */
export interface Item {
  readonly id: number
  readonly computedBy: number
}

const TASKS = 200
const KEYS = 10

const cache = await createCache({ name: 'items', threads: 2 })
const counter = new Int32Array(new SharedArrayBuffer(4))
const workerData: PoolData = { cache: cache.handle, counter }
const pool = new Piscina<number, Item>({
  filename: new URL('./piscina-task.js', import.meta.url).href,
  workerData,
  minThreads: 4,
  maxThreads: 4,
  // A task waiting on the cache is idle: let each thread run many at once.
  concurrentTasksPerWorker: 25,
})

// 200 tasks over 10 keys, all queued at once.
const items = await Promise.all(Array.from({ length: TASKS }, (_, i) => pool.run(i % KEYS)))
const threads = new Set(items.map((item) => item.computedBy))
console.log(`${Atomics.load(counter, 0)} computations for ${items.length} calls from a pool of ${pool.threads.length} threads (computed in threads ${[...threads].sort().join(', ')})`)

// A value a pool task computed is a hit for the main thread too: this fn never runs.
const before = await cache.stats()
const item = await cached<Item>(cache, ['item', 7], () => {
  throw new Error('not reached: a pool task has already computed this')
})
const after = await cache.stats()
console.log(`main thread: ['item', 7] from thread ${item.computedBy}; hits ${before.hits} → ${after.hits}, computes ${before.computes} → ${after.computes}`)

await pool.destroy()
await cache.close()
