// nearBytes counts the near copies of live threads only (issue 7, finding 7: it only grew when
// threads ended without close()). A thread that ends without closing, however it ends, gives its
// near bytes back: the owners reclaim them when its links close. One that closes gives them back
// at once. Over many short-lived threads (a piscina pool recycling idle workers) nearBytes stays
// bounded by the threads alive.
import test, { type ExecutionContext } from 'ava'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { cached, createCache, reset, type Cache } from 'coop-cache'
import { eventually, within } from './helpers/cluster.js'
import type { Ending } from './fixtures/near-thread.js'
import { copySize as counted } from '../src/caller/near.js'
import { encodeKey } from '../src/shared/key.js'

const VALUE = 'x'.repeat(1000)
/** What one near copy of `key`'s value counts: what it takes in memory (near.ts). */
const copySize = (key: string) => counted(encodeKey(key), VALUE)

async function cacheWith(t: ExecutionContext, name: string, keys: readonly string[]): Promise<Cache> {
  const cache = await createCache({ name, threads: 2 })
  t.teardown(() => cache.close())
  // Computed here: a computer keeps no near copy, so this thread holds none.
  for (const key of keys) t.is(await cached(cache, key, () => VALUE), VALUE)
  return cache
}

const nearBytes = async (cache: Cache) => (await cache.stats()).nearBytes

/** Starts a thread that keeps a near copy of `key` and will end by `ending`; resolves once it holds the copy. */
async function nearThread(cache: Cache, key: string, ending: Ending): Promise<Worker> {
  const worker = new Worker(new URL('./fixtures/near-thread.js', import.meta.url), { workerData: { cache: cache.handle, key, ending } })
  worker.on('error', () => {})
  const [got] = (await within(once(worker, 'message'), 10_000, `a thread to read ${key}`)) as [unknown]
  if (JSON.stringify(got) !== JSON.stringify({ value: VALUE, again: VALUE })) throw new Error(`the thread read ${JSON.stringify(got)}`)
  return worker
}

async function backTo(t: ExecutionContext, cache: Cache, bytes: number, what: string): Promise<void> {
  let now = -1
  await eventually(t, () => `nearBytes to be ${bytes} ${what}, not ${now}`, async () => (now = await nearBytes(cache)) === bytes, 3000)
}

const ENDINGS: readonly Ending[] = ['terminated', 'out of work', 'process.exit()', 'an uncaught throw']

test('a thread that ends without close(), however it ends, gives its near bytes back', async (t) => {
  const keys = ENDINGS.map((ending) => `near ${ending}`)
  const cache = await cacheWith(t, 'near-bytes-ends', keys)
  t.is(await nearBytes(cache), 0)
  // All of them hold a copy at once; then they end one by one.
  const workers = await Promise.all(ENDINGS.map((ending, i) => nearThread(cache, keys[i] as string, ending)))
  let held = keys.reduce((sum, key) => sum + copySize(key), 0)
  t.is(await nearBytes(cache), held, 'every live thread counts its copy')
  for (const [i, ending] of ENDINGS.entries()) {
    const worker = workers[i] as Worker
    // (not events.once: it rejects on the 'error' that an uncaught throw emits first)
    const exited = new Promise((resolve) => worker.once('exit', resolve))
    if (ending === 'terminated') await worker.terminate()
    else worker.postMessage('end')
    await within(exited, 5000, `the thread to end by ${ending}`)
    held -= copySize(keys[i] as string)
    await backTo(t, cache, held, `once a thread ended by ${ending}`)
  }
  t.is(held, 0)
  // A reset counts nothing back: the dead threads' copies are gone for good.
  await reset(cache, 'after')
  t.is(await nearBytes(cache), 0, 'after a reset')
})

test('a thread that closes gives its near bytes back at once; the other threads keep theirs', async (t) => {
  const cache = await cacheWith(t, 'near-bytes-close', ['closing', 'staying'])
  const closing = await nearThread(cache, 'closing', 'close()')
  const staying = await nearThread(cache, 'staying', 'terminated')
  t.teardown(() => Promise.all([closing.terminate(), staying.terminate()]))
  t.is(await nearBytes(cache), copySize('closing') + copySize('staying'))
  closing.postMessage('end')
  // No waiting: the thread's close() gave them back before it resolved (the owners, which would
  // reclaim them once they see its links close, have not had their turn yet).
  t.deepEqual((await within(once(closing, 'message'), 5000, 'the thread to close'))[0], { closed: copySize('staying') })
  t.is(await nearBytes(cache), copySize('staying'))
  await staying.terminate()
  await backTo(t, cache, 0, 'once the other thread was terminated')
  await reset(cache, 'after')
  t.is(await nearBytes(cache), 0, 'after a reset')
})

test('over 30 short-lived threads of a piscina pool that recycles idle workers, nearBytes stays bounded by the live ones', async (t) => {
  const key = 'pooled'
  const cache = await cacheWith(t, 'near-bytes-pool', [key])
  const pool = new Piscina({
    filename: new URL('./fixtures/near-task.js', import.meta.url).href,
    workerData: { cache: cache.handle },
    minThreads: 0,
    maxThreads: 3,
    idleTimeout: 1,
  })
  t.teardown(() => pool.destroy())
  const threads = new Set<number>()
  let most = 0
  for (let round = 0; threads.size < 30; round++) {
    if (round >= 60) return t.fail(`only ${threads.size} threads in ${round} rounds`)
    for (const id of await within(Promise.all([0, 1, 2].map(() => pool.run({ key }))), 10_000, 'three tasks')) threads.add(id)
    // Each live thread holds one copy at most.
    const now = await nearBytes(cache)
    most = Math.max(most, now)
    t.true(now <= 3 * copySize(key), `${now} near bytes with at most 3 threads alive`)
    // The pool ends its idle workers without closing: their copies must go with them.
    await eventually(t, () => `the pool to end its idle threads (${pool.threads.length} left)`, () => pool.threads.length === 0, 3000)
    await backTo(t, cache, 0, `once the pool ended its idle threads (round ${round})`)
  }
  t.log(`${threads.size} threads; at most ${most} near bytes at once`)
  t.true(most >= copySize(key), 'the threads did keep near copies')
})
