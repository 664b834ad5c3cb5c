import test from 'ava'
import { Piscina } from 'piscina'
import { createCache, cached } from 'coop-cache'
import { Board } from './helpers/board.js'

test('a piscina pool\'s tasks share the cache with the main thread: each key computed once in all', async (t) => {
  const cache = await createCache({ name: 'piscina', threads: 2 })
  const board = new Board()
  const pool = new Piscina({
    filename: new URL('./fixtures/piscina-task.js', import.meta.url).href,
    workerData: { cache: cache.handle, board: board.buffer },
    minThreads: 3,
    maxThreads: 3,
    concurrentTasksPerWorker: 100,
  })
  try {
    const keys = ['a', 'b', 'c', 'd', 'e']
    const tasks = Array.from({ length: 200 }, (_, i) => pool.run({ key: keys[i % keys.length] }))
    await board.computations(keys.length)
    board.open(0)
    const results = await Promise.all(tasks)
    t.is(board.computed, keys.length)
    t.deepEqual(new Set(results), new Set(keys.map((k) => `rendered ${k}`)))
    // a value computed in a pool task is a hit for the main thread
    const before = await cache.stats()
    for (const key of keys) {
      t.is(await cached<string>(cache, key, () => Promise.reject(new Error('must not compute'))), `rendered ${key}`)
    }
    t.is((await cache.stats()).hits - before.hits, keys.length)
  } finally {
    await pool.destroy()
    await cache.close()
  }
})
