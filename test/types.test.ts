// Misuse the compiler refuses. `npm test` builds first, and tsc fails when an expected error
// below stops being one; the runtime test keeps this file in the suite.
import test from 'ava'
import { createCache, cached, reset, attach, type Cache, type CacheStats } from 'coop-cache'

async function misuse(cache: Cache): Promise<void> {
  // @ts-expect-error a key cannot be a function
  await cached(cache, () => 1, () => 1)
  // @ts-expect-error nor a Map
  await cached(cache, new Map(), () => 1)
  // @ts-expect-error nor undefined inside an array
  await cached(cache, ['page', undefined], () => 1)
  // @ts-expect-error fn is required
  await cached(cache, 'k')
  // @ts-expect-error options need a name
  await createCache({ memoryLimit: 1024 })
  // @ts-expect-error policy is 'reject' or 'evict'
  await createCache({ name: 'x', policy: 'lru' })
  // @ts-expect-error a handle is not any object
  attach({ id: 'x' })
  // @ts-expect-error reset needs a version
  await reset(cache)
  // the value's type follows fn's
  const page: string = await cached(cache, ['page', 1, { lang: 'en' }], async () => 'html')
  // @ts-expect-error a string is not a number
  const wrong: number = await cached(cache, 'k', async () => 'html')
  const stats: CacheStats = await cache.stats()
  void [page, wrong, stats.hits + stats.bytes]
}

test('the public API is typed so that misuse fails to compile', (t) => {
  t.is(typeof misuse, 'function')
})
