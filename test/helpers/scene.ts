// The stage most tests need: a cache, a board, and caller threads attached to the cache,
// all torn down afterwards whatever the test did.
import { createCache, type Cache, type CacheOptions } from 'coop-cache'
import { Board } from './board.js'
import { callerThreads, type CallerThread } from './callers.js'

export interface Scene {
  readonly cache: Cache
  readonly board: Board
  readonly workers: CallerThread[]
}

export async function withCache(options: CacheOptions, workers: number, body: (scene: Scene) => Promise<void>): Promise<void> {
  const cache = await createCache(options)
  const board = new Board()
  const threads = await callerThreads(cache, board, workers)
  try {
    await body({ cache, board, workers: threads })
  } finally {
    await Promise.all(threads.map((w) => w.end()))
    await cache.close()
  }
}
