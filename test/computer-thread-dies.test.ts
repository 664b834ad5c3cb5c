import test from 'ava'
import { cached } from 'coop-cache'
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
