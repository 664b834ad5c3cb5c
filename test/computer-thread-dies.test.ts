import test from 'ava'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { cached, createCache } from 'coop-cache'
import { withCache } from './helpers/scene.js'
import { outcome } from './helpers/board.js'

test('a computer whose worker is terminated mid-computation does not strand its waiters', (t) =>
  withCache({ name: 'thread-dies', threads: 2 }, 2, async ({ cache, board, workers: [doomed, survivor] }) => {
    const lost = doomed!.cached('page', { value: 'never', gate: 0 })
    await lost.issued
    await board.computations(1)
    const remote = survivor!.cached('page', { value: 'from a waiter' }, 20)
    const local = Array.from({ length: 20 }, () => outcome(cached(cache, 'page', board.fn({ value: 'from a waiter' }))))
    await remote.issued
    await doomed!.end()
    await t.throwsAsync(lost.done, { message: /exited/ })
    const outcomes = [...(await Promise.all(local)), ...(await remote.done)]
    t.deepEqual(outcomes, Array(40).fill({ ok: true, value: 'from a waiter' }))
    t.is(board.computed, 2)
    t.is((await cache.stats()).failures, 1)
  }),
)

test('a worker that exits in the same turn as its computed call resolves has stored the value: nobody computes it again', async (t) => {
  const cache = await createCache({ name: 'exit-after-compute', threads: 2 })
  t.teardown(() => cache.close())
  const counter = new SharedArrayBuffer(4)
  const keys = Array.from({ length: 24 }, (_, i) => `key ${i}`)
  // Four at a time, so that the exits meet calls of other threads in flight.
  for (let i = 0; i < keys.length; i += 4) {
    await Promise.all(
      keys.slice(i, i + 4).map(async (key) => {
        const worker = new Worker(new URL('./fixtures/exit-after-compute.js', import.meta.url), { workerData: { cache: cache.handle, key, counter } })
        const [code] = (await once(worker, 'exit')) as [number]
        if (code !== 0) throw new Error(`the worker computing ${key} exited with ${code}`)
      }),
    )
  }
  t.is(Atomics.load(new Int32Array(counter), 0), keys.length, 'each worker computed its key')
  for (const key of keys) t.is(await cached(cache, key, () => `computed again for ${key}`), `computed for ${key} in a worker`)
  t.is((await cache.stats()).computes, keys.length)
})
