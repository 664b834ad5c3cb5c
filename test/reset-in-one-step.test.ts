// A reset drops every entry in one step (owner/store.ts: a fresh store takes the old one's
// place), however many there are: every byte and entry is given back, nothing from before is
// served, and the whole memoryLimit can be filled again. The time it takes is measured in
// bench/, not here; here, the same guarantees at 1,000 and 200,000 entries.
import test from 'ava'
import { cached, createCache, reset } from 'coop-cache'
import { encodeKey } from '../src/shared/key.js'
import { FOREVER } from '../src/shared/lifetime.js'
import { entryOfValue } from '../src/owner/store.js'

for (const entries of [1_000, 200_000]) {
  test(`a reset with ${entries.toLocaleString('en')} entries gives every byte back and serves nothing from before`, async (t) => {
    // Room for the entries once and a half: if the reset kept any of its bytes reserved, the
    // second fill would not fit. (A number travels to its owner as itself: see values.ts travelsAsItself.)
    let size = 0
    for (let k = 0; k < entries; k++) size += entryOfValue(encodeKey(k), 1, FOREVER, 0).size
    const cache = await createCache({ name: `reset-one-step-${entries}`, threads: 2, nearLimit: 0, memoryLimit: Math.floor(size * 1.5) })
    t.teardown(() => cache.close())
    const fill = async (version: number) => {
      const batch = 5_000
      for (let from = 0; from < entries; from += batch) {
        await Promise.all(Array.from({ length: Math.min(batch, entries - from) }, (_, i) => cached(cache, from + i, () => version)))
      }
    }
    await fill(1)
    const before = await cache.stats()
    t.is(before.entries, entries)
    t.is(before.bytes, size)
    await reset(cache, 2)
    const after = await cache.stats()
    t.is(after.entries, 0)
    t.is(after.bytes, 0)
    // Nothing from before: every key is computed again, under the new version.
    let computed = 0
    const sample = Array.from({ length: 100 }, (_, i) => Math.floor((i * entries) / 100))
    t.deepEqual(await Promise.all(sample.map((k) => cached(cache, k, () => (computed++, 2)))), sample.map(() => 2))
    t.is(computed, sample.length)
    // The bytes given back are reusable: the cache fills to the same size again.
    await fill(3)
    const again = await cache.stats()
    t.is(again.entries, entries)
    t.is(again.rejected, 0)
  })
}
