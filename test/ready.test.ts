// cache.ready({ peers, timeout }): resolves once this process sees at least `peers` live members
// of its cluster, itself included; rejects with CacheNotReadyError, saying what it saw, when they
// do not come in time.
import test from 'ava'
import { CacheClosedError, CacheNotReadyError, createCache, memoryBus } from 'coop-cache'
import { outcome } from './helpers/board.js'
import { sleep, startCluster, within } from './helpers/cluster.js'
import { peers } from './helpers/pair.js'

test('without a bus, ready() and ready({ peers: 1 }) resolve at once', async (t) => {
  const cache = await createCache({ name: 'ready-alone', threads: 1 })
  try {
    await within(cache.ready(), 5000, 'ready()')
    await within(cache.ready({ peers: 1 }), 5000, 'ready({ peers: 1 })')
    await within(cache.ready({ peers: 1, timeout: 0 }), 5000, 'ready({ peers: 1, timeout: 0 })')
    t.pass()
  } finally {
    await cache.close()
  }
})

test('without a bus, ready({ peers: 2 }) rejects with CacheNotReadyError after its timeout, naming what it saw', async (t) => {
  const cache = await createCache({ name: 'ready-alone-2', threads: 1 })
  try {
    const error = await t.throwsAsync(cache.ready({ peers: 2, timeout: 200 }), { instanceOf: CacheNotReadyError, code: 'ERR_COOP_CACHE_NOT_READY' })
    t.regex(error?.message ?? '', /"ready-alone-2" saw 1 live member \(itself included\) within 200 ms, not the 2 asked for/)
  } finally {
    await cache.close()
  }
})

test('ready({ peers: 3 }) waits for the other two members to join the bus, then resolves', async (t) => {
  const cluster = await peers(t, 'ready-join', 1)
  const [first] = cluster.members
  let settled = false
  const ready = outcome(first!.cache.ready({ peers: 3, timeout: 20_000 })).finally(() => (settled = true))
  await cluster.add()
  // two members of three: it keeps waiting
  await sleep(500)
  t.false(settled, 'ready({ peers: 3 }) resolved with two members')
  await cluster.add()
  t.deepEqual(await within(ready, 20_000, 'ready once the third member joined'), { ok: true, value: undefined })
  for (const member of cluster.members) await within(member.cache.ready({ peers: 3, timeout: 10_000 }), 15_000, 'every member ready')
})

test('ready rejects with CacheNotReadyError when the peers asked for never come, naming how many it saw', async (t) => {
  const cluster = await peers(t, 'ready-never', 2)
  const error = await t.throwsAsync(cluster.members[0]!.cache.ready({ peers: 3, timeout: 300 }), { instanceOf: CacheNotReadyError, code: 'ERR_COOP_CACHE_NOT_READY' })
  t.regex(error?.message ?? '', /saw 2 live members \(itself included\) within 300 ms, not the 3 asked for/)
})

test('a pending ready() rejects with CacheClosedError when its cache closes', async (t) => {
  const cache = await createCache({ name: 'ready-closed', threads: 1, bus: memoryBus() })
  const ready = cache.ready({ peers: 2, timeout: 20_000 })
  await cache.close()
  await t.throwsAsync(within(ready, 10_000, 'ready to settle after close'), { instanceOf: CacheClosedError })
})

test.serial('ready({ peers: 3 }) resolves in each of 3 processes on the ipc bus; ready({ peers: 4 }) rejects, having seen 3', async (t) => {
  const cluster = await startCluster(t, { bus: 'ipc', size: 3, callers: 1, name: 'ready-ipc', peerTimeout: 3000 })
  const answers = await Promise.all(cluster.peers.map((p) => p.do({ op: 'ready', peers: 3, timeout: 10_000 })))
  t.deepEqual(answers.map((a) => a.ok), [true, true, true])
  const four = await cluster.peers[0]!.do({ op: 'ready', peers: 4, timeout: 300 })
  t.like(four, { ok: false, name: 'CacheNotReadyError', code: 'ERR_COOP_CACHE_NOT_READY' })
  t.regex(four.ok ? '' : four.message, /saw 3 live members/)
})

test('ready refuses bad options with a TypeError that names the option', async (t) => {
  const cache = await createCache({ name: 'ready-options', threads: 1 })
  try {
    const ready = (options: unknown) => cache.ready(options as never)
    await t.throwsAsync(ready(null), { instanceOf: TypeError, message: /options must be an object/ })
    await t.throwsAsync(ready(3), { instanceOf: TypeError, message: /options must be an object/ })
    await t.throwsAsync(ready({ peers: 0 }), { instanceOf: TypeError, message: /options\.peers must be a positive integer.*got 0/ })
    await t.throwsAsync(ready({ peers: 2.5 }), { instanceOf: TypeError, message: /options\.peers/ })
    await t.throwsAsync(ready({ peers: '3' }), { instanceOf: TypeError, message: /options\.peers/ })
    await t.throwsAsync(ready({ timeout: -1 }), { instanceOf: TypeError, message: /options\.timeout/ })
    await t.throwsAsync(ready({ timeout: 'soon' }), { instanceOf: TypeError, message: /options\.timeout/ })
  } finally {
    await cache.close()
  }
})
