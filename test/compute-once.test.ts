import test from 'ava'
import { cached } from 'coop-cache'
import { withCache } from './helpers/scene.js'
import { outcome, until } from './helpers/board.js'

test('1,000 concurrent calls for one cold key from the main thread and 4 workers compute it once', (t) =>
  withCache({ name: 'once', threads: 2 }, 4, async ({ cache, board, workers }) => {
    // fn is held at gate 0 until every call has been made, so they all meet one computation.
    const spec = { value: { page: 42 }, gate: 0 }
    const remote = workers.map((w) => w.cached(['page', 42], spec, 200))
    const local = Array.from({ length: 200 }, () => outcome(cached(cache, ['page', 42], board.fn(spec))))
    await Promise.all(remote.map((r) => r.issued))
    await board.computations(1)
    // every worker's request has joined the computation at the owner
    await until(cache, (stats) => stats.coalesced === 4)
    board.open(0)
    const outcomes = [...(await Promise.all(local)), ...(await Promise.all(remote.map((r) => r.done))).flat()]
    t.is(outcomes.length, 1000)
    t.is(board.computed, 1)
    t.deepEqual(outcomes.filter((o) => !o.ok), [])
    t.true(outcomes.every((o) => o.ok && (o.value as { page: number }).page === 42))
    const stats = await cache.stats()
    t.is(stats.computes, 1)
    t.is(stats.coalesced, 999)
    t.is(stats.stored, 1)
  }),
)

test('K cold keys asked for by several threads at once are computed K times in all', (t) =>
  withCache({ name: 'once-k', threads: 2 }, 3, async ({ cache, board, workers }) => {
    const keys = Array.from({ length: 20 }, (_, i) => ({ report: i, region: ['eu', 'us'][i % 2] as string }))
    const remote = workers.flatMap((w) => keys.map((key) => w.cached(key, { value: key.report, gate: 0 }, 10)))
    await Promise.all(remote.map((r) => r.issued))
    board.open(0)
    const outcomes = (await Promise.all(remote.map((r) => r.done))).flat()
    t.is(board.computed, keys.length)
    t.is(outcomes.filter((o) => o.ok).length, 3 * 20 * 10)
  }),
)

test('a value computed in a worker thread is a hit for the main thread', (t) =>
  withCache({ name: 'once-hit', threads: 2 }, 1, async ({ cache, board, workers: [worker] }) => {
    const [computed] = await worker!.cached('home', { value: 'rendered in a worker' }).done
    t.deepEqual(computed, { ok: true, value: 'rendered in a worker' })
    const value = await cached<string>(cache, 'home', () => {
      throw new Error('fn must not run: the value is stored')
    })
    t.is(value, 'rendered in a worker')
    t.is(board.computed, 1)
    t.is((await cache.stats()).hits, 1)
  }),
)

test('keys that are equal by canonical encoding share one computation across threads', (t) =>
  withCache({ name: 'once-canonical', threads: 2 }, 1, async ({ cache, board, workers: [worker] }) => {
    const remote = worker!.cached({ b: [2, 'x'], a: 1 }, { value: 'shared', gate: 0 })
    await remote.issued
    const local = outcome(cached(cache, { a: 1, b: [2, 'x'] }, board.fn({ value: 'other', gate: 0 })))
    await board.computations(1)
    board.open(0)
    const [remoteOutcome] = await remote.done
    const localOutcome = await local
    t.is(board.computed, 1)
    t.deepEqual(remoteOutcome, localOutcome)
  }),
)
