import test from 'ava'
import { createCache, cached, reset } from 'coop-cache'
import { withCache } from './helpers/scene.js'
import { outcome, until } from './helpers/board.js'

test('reset during compute never serves the old value: every caller gets the new one', (t) =>
  withCache({ name: 'fresh', version: 'v1', threads: 2 }, 2, async ({ cache, board, workers }) => {
    // The first computation starts under v1 and is held at gate 0; callers pile up behind it.
    const spec = { value: 'page', gate: 0, withVersion: true }
    const first = workers[0]!.cached('page', spec, 50)
    await first.issued
    await board.computations(1)
    const second = workers[1]!.cached('page', spec, 50)
    const local = Array.from({ length: 50 }, () => outcome(cached(cache, 'page', board.fn(spec))))
    await second.issued
    await reset(cache, 'v2')
    t.is(cache.version, 'v2')
    // the straddling computation is told: its signal aborts while it still runs
    await board.abortions(1)
    board.open(0)
    const outcomes = [...(await Promise.all(local)), ...(await first.done), ...(await second.done)]
    t.is(outcomes.length, 150)
    t.deepEqual(new Set(outcomes.map((o) => (o.ok ? o.value : o.message))), new Set(['page@v2']))
    // the straddling computation saw its signal aborted; one more ran in the new epoch
    t.is(board.aborted, 1)
    t.is(board.computed, 2)
  }),
)

test('stored values and near copies from before a reset are never served after it', (t) =>
  withCache({ name: 'fresh-stored', version: 1, threads: 2 }, 1, async ({ cache, board, workers: [worker] }) => {
    const spec = { value: 'report', withVersion: true }
    t.is(await cached(cache, 'report', board.fn(spec)), 'report@1')
    // the worker's hit leaves it a near copy; the main thread's second call leaves one too
    t.deepEqual(await worker!.cached('report', spec).done, [{ ok: true, value: 'report@1' }])
    t.deepEqual(await worker!.cached('report', spec).done, [{ ok: true, value: 'report@1' }])
    t.is(await cached(cache, 'report', board.fn(spec)), 'report@1')
    t.is(await cached(cache, 'report', board.fn(spec)), 'report@1')
    // a worker adds its near hits to the shared count a turn of its event loop after its answer
    await until(cache, (stats) => stats.nearHits >= 2)
    t.deepEqual(await worker!.reset(2), { ok: true, value: undefined })
    t.is(await cached(cache, 'report', board.fn(spec)), 'report@2')
    t.deepEqual(await worker!.cached('report', spec).done, [{ ok: true, value: 'report@2' }])
    t.is(board.computed, 2)
    const stats = await cache.stats()
    t.is(stats.epoch, 2)
    t.is(stats.resets, 1)
    t.is(stats.version, 2)
  }),
)

test('reset to the version the cache already has changes nothing', (t) =>
  withCache({ name: 'fresh-noop', version: { sha: 'abc' }, threads: 1 }, 0, async ({ cache, board }) => {
    await cached(cache, 'k', board.fn({ value: 1 }))
    await Promise.all([reset(cache, { sha: 'abc' }), reset(cache, { sha: 'abc' })])
    await cached(cache, 'k', board.fn({ value: 1 }))
    t.is(board.computed, 1)
    t.is((await cache.stats()).epoch, 1)
    await Promise.all([reset(cache, { sha: 'def' }), reset(cache, { sha: 'def' })])
    t.is((await cache.stats()).resets, 1)
  }),
)

test('concurrent resets from several threads settle on one epoch per distinct version', (t) =>
  withCache({ name: 'fresh-concurrent', threads: 2 }, 3, async ({ cache, workers }) => {
    const outcomes = await Promise.all([...workers.map((w, i) => w.reset(`v${i}`)), outcome(reset(cache, 'v-main'))])
    t.true(outcomes.every((o) => o.ok))
    const stats = await cache.stats()
    t.is(stats.resets, 4)
    t.is(stats.epoch, 5)
    // whichever reset came last names the version every thread now sees
    const seen = await Promise.all(workers.map(async (w) => ((await w.stats()) as { value: { version: unknown } }).value.version))
    t.true(seen.every((v) => v === cache.version))
  }),
)

test('a computation that ignores its aborted signal is still never stored or handed out', async (t) => {
  const cache = await createCache({ name: 'fresh-stubborn', version: 'old', threads: 1 })
  let runs = 0
  try {
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const first = cached(cache, 'k', async ({ version }) => {
      runs++
      if (runs === 1) await held
      return `k@${String(version)}`
    })
    while (runs === 0) await new Promise((resolve) => setImmediate(resolve))
    await reset(cache, 'new')
    t.is(await first, 'k@new')
    release()
    await new Promise((resolve) => setTimeout(resolve, 20))
    t.is(await cached(cache, 'k', async () => 'must not run'), 'k@new')
    t.is(runs, 2)
  } finally {
    await cache.close()
  }
})
