// ctx.noStore(): the value a computation returns reaches every caller that waited for it, and
// is kept nowhere: not stored by an owner, not kept as a near copy, not in another process; the
// next call computes again.
import test from 'ava'
import { cached, has, peek } from 'coop-cache'
import { outcome, until } from './helpers/board.js'
import { peers } from './helpers/pair.js'
import { withCache } from './helpers/scene.js'

/** Each computation's value names it: `fallback@0#thread.n`. */
const spec = { value: 'fallback', withVersion: true, tag: true, noStore: true } as const

test('a value fn marks noStore reaches every waiter of every thread, is not stored, and the next call computes again', (t) =>
  withCache({ name: 'no-store', threads: 2 }, 1, async ({ cache, board, workers: [worker] }) => {
    const computer = outcome(cached(cache, 'k', board.fn({ ...spec, gate: 0 })))
    await board.computations(1)
    const joiners = Array.from({ length: 3 }, () => outcome(cached(cache, 'k', board.fn(spec))))
    const remote = worker!.cached('k', spec, 3)
    await until(cache, (stats) => stats.coalesced === 1)
    board.open(0)
    const first = [await computer, ...(await Promise.all(joiners)), ...(await remote.done)]
    t.is(first.length, 7)
    const values = new Set(first.map((o) => (o.ok ? o.value : o.message)))
    t.is(values.size, 1, 'every caller got the one value computed')
    t.regex(String([...values][0]), /^fallback@0#/)
    t.is(board.computed, 1)
    const stats = await cache.stats()
    t.is(stats.stored, 0)
    t.is(stats.entries, 0)
    t.is(stats.nearBytes, 0, 'no thread kept a near copy of it')
    t.is(await peek(cache, 'k'), undefined)
    t.false(await has(cache, 'k'))
    // the next calls, here and in the worker, compute again
    const again = await cached(cache, 'k', board.fn(spec))
    t.not(again, [...values][0])
    // Asked on the same link as the put that ended that computation, after it: once this answers,
    // the owner has ended it (a call from another thread could otherwise reach the owner first,
    // on its own link, and join the computation still open there).
    t.is(await peek(cache, 'k'), undefined, 'nothing kept of the second computation either')
    const [workerAgain] = await worker!.cached('k', spec).done
    t.true(workerAgain?.ok === true && workerAgain.value !== again)
    t.is(board.computed, 3)
    t.is((await cache.stats()).computes, 3)
  }),
)

test('a computation that does not call noStore is stored as usual', (t) =>
  withCache({ name: 'no-store-control', threads: 1 }, 0, async ({ cache, board }) => {
    const value = await cached(cache, 'k', board.fn({ ...spec, noStore: false }))
    t.is(await cached(cache, 'k', board.fn(spec)), value)
    t.is(await peek(cache, 'k'), value)
    t.is(board.computed, 1)
    t.is((await cache.stats()).stored, 1)
  }),
)

test('noStore across processes: the waiter in the owning process gets the value, and neither process keeps it', async (t) => {
  const cluster = await peers(t, 'no-store-peers', 2)
  const [here, there] = cluster.members as [(typeof cluster.members)[number], (typeof cluster.members)[number]]
  // a key the other process owns, computed here while a caller there waits for it
  const [key] = cluster.keysOf(there, 1) as [string]
  const computer = outcome(cached(here.cache, key, here.board.fn({ ...spec, gate: 0 })))
  await here.board.computations(1)
  const waiter = outcome(cached(there.cache, key, there.board.fn(spec)))
  // the waiter has joined the computation at its owner
  await until({ stats: () => there.cache.stats({ local: true }) }, (stats) => stats.coalesced === 1)
  here.board.open(0)
  const [mine, theirs] = [await computer, await waiter]
  t.true(mine.ok)
  t.deepEqual(theirs, mine)
  t.is(there.board.computed, 0)
  for (const member of cluster.members) {
    t.is(await peek(member.cache, key), undefined)
    t.is((await member.cache.stats({ local: true })).stored, 0)
  }
  // the next call computes again
  t.is(await cached(there.cache, key, there.board.fn({ value: 'computed again' })), 'computed again')
  t.is(there.board.computed, 1)
})
