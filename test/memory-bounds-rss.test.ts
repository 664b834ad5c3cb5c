// memoryLimit bounds memory, not only a count of serialized bytes (issue 10): a cache filled to
// its limit grows the process's RSS by about the limit, at every value size, because an entry
// counts what it takes (footprint.ts, store.ts ENTRY). Each fill runs in a node process of its
// own (bench/lib/fill.ts): RSS is read after a full collection in every thread, with the cache
// created and idle, and once full. What the owners hold (their heaps and ArrayBuffers, after
// gc) must be what was counted; the process's RSS is bounded more loosely, by RSS_FACTOR times
// the limit plus FIXED, because memory that threads allocate outside V8 and free is kept by the
// C allocator at a level that depends on the Node line: filling a 32 MiB cache of 16 B values
// grew RSS by 60 MiB on Node 20 and by 90 (reject) to 131 MiB (evict) on Node 22 and 24, while
// the owners' heaps grew by the same 25–29 MiB on all three. The bench (scenario 6) holds the
// tighter aim, 1.25 times the limit plus the fixed cost, on the recording machine's Node.
//
// Against the accounting before issue 10 (serialized size plus key), 16-byte values filled
// 32 MiB with over half a million entries and grew RSS by more than 300 MiB.
import test from 'ava'
import { fillInChild, ownersGrowth, type Shape } from '../bench/lib/fill.js'

const MiB = 1024 * 1024
const LIMIT = 32 * MiB
/**
 * What the process grows by whatever the cache holds: the young generations of the two owner
 * threads and of the filler thread (about 8 MiB each at their caps), and the memory the
 * allocator keeps of the messages and values that came and went.
 */
const FIXED = 32 * MiB
/** See the top of this file: Node 22 and 24 keep up to about 4x the limit of RSS after an evicting fill of tiny values. */
const RSS_FACTOR = 4.5

const sizes: readonly (readonly [Shape, number, string])[] = [
  ['id', 16, '16 B values ({ id })'],
  ['fields', 1024, '1 KiB records'],
  ['string', 64 * 1024, '64 KiB strings'],
  ['buffer', MiB, '1 MiB Buffers'],
]

for (const [shape, size, what] of sizes) {
  for (const policy of ['reject', 'evict'] as const) {
    test.serial(`filling to memoryLimit with ${what}, policy '${policy}', keeps what the owners hold to what was counted, and bounds RSS`, async (t) => {
      const filled = await fillInChild({ shape, size, policy, memoryLimit: LIMIT, threads: 2 })
      const growth = filled.full.rss - filled.idle.rss
      const held = ownersGrowth(filled)
      const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`
      t.log(`${filled.entries} entries, ${mib(filled.bytes)} counted, owners hold ${mib(held)} more, RSS grew ${mib(growth)} (${(growth / LIMIT).toFixed(2)}x the limit)`)
      t.true(filled.bytes <= LIMIT && filled.bytes > LIMIT / 2, `${filled.bytes} bytes counted against a limit of ${LIMIT}`)
      if (policy === 'evict') t.true(filled.evicted > 0)
      else t.true(filled.rejected > 0)
      // What the owners hold (their heap and ArrayBuffers, after gc) is no more than was counted.
      t.true(held <= 1.15 * filled.bytes, `the owners hold ${mib(held)} for ${mib(filled.bytes)} counted`)
      t.true(growth <= RSS_FACTOR * LIMIT + FIXED, `RSS grew by ${mib(growth)}, more than ${RSS_FACTOR} x ${mib(LIMIT)} + ${mib(FIXED)}`)
    })
  }
}
