// The same value on every path (issue 7, finding 7: a Buffer came back a Buffer to its computer
// and a Uint8Array to later hits; a class instance came back as itself to its computer and as a
// plain object to everyone else). Whichever path a value takes — its computer, a waiter in the
// same thread, a near copy, another thread (small values travel as clones, large ones as bytes),
// another process — callers get the same kinds: a Buffer stays a Buffer, a Uint8Array a
// Uint8Array, Maps, Sets, Dates and typed arrays stay what they are. A value that a clone would
// change silently (a class instance, anywhere in it) is refused with ValueNotCloneableError,
// naming the class and where it is, for the computer and every waiter, and nothing is stored.
import test, { type ExecutionContext } from 'ava'
import { cached } from 'coop-cache'
import { until } from './helpers/board.js'
import { peers, type Member } from './helpers/pair.js'
import { withCache } from './helpers/scene.js'
import { INSTANCES, KINDS, KindThread, got, instances, kindOf, makers, making, type Got, type Instance, type Kind } from './helpers/kinds.js'

/** Every call got a value of `kind`'s kinds and contents: what went otherwise, by path. */
function sameKinds(t: ExecutionContext, kind: Kind, paths: Record<string, readonly Got[]>): void {
  const expected = kindOf(makers[kind]())
  const wrong = Object.entries(paths).flatMap(([path, results]) =>
    results.filter((r) => !('kind' in r) || r.kind !== expected).map((r) => `${path}: ${'kind' in r ? r.kind : `${r.error.name}: ${r.error.message}`}`),
  )
  t.deepEqual(wrong, [], `${kind} is ${expected} on every path`)
}

/** Gates of a board, one per use: an opened gate stays open. */
function gates(): () => number {
  let next = 0
  return () => next++
}

test('a value comes back the same kind to its computer, a waiter in its thread, from a near copy, and in another thread', (t) =>
  withCache({ name: 'kinds', threads: 2 }, 0, async ({ cache, board }) => {
    const worker = new KindThread(cache, board)
    t.teardown(() => worker.end())
    for (const kind of KINDS) {
      const key = `${kind}/here`
      const fn = making(board, kind)
      // The computer and a call of its thread that joins it.
      const computer = await Promise.all([got(cached(cache, key, fn)), got(cached(cache, key, fn))])
      // An owner hit, which keeps a near copy; then a near hit.
      const ownerHit = [await got(cached(cache, key, fn))]
      const nearHit = [await got(cached(cache, key, fn))]
      // The same in another thread.
      const otherThread = await worker.get(key, kind)
      const otherNear = await worker.get(key, kind)
      sameKinds(t, kind, { 'the computer and its joiner': computer, 'an owner hit': ownerHit, 'a near hit': nearHit, 'another thread': otherThread, 'a near hit in another thread': otherNear })
    }
    t.is(board.computed, KINDS.length)
    // The second call of each thread was a near hit indeed (the worker's are counted at its next turn).
    await until(cache, (stats) => stats.nearHits === 2 * KINDS.length)
  }))

test('a value comes back the same kind to waiters in another thread, whichever thread computed it', (t) =>
  withCache({ name: 'kinds-waiters', threads: 2 }, 0, async ({ cache, board }) => {
    const worker = new KindThread(cache, board)
    t.teardown(() => worker.end())
    const gate = gates()
    for (const kind of KINDS) {
      // Computed here, held until the worker's calls wait for it.
      const here = gate()
      const coalesced = (await cache.stats()).coalesced
      const computed = board.computed
      const mine = got(cached(cache, `${kind}/computed here`, making(board, kind, here)))
      await board.computations(computed + 1)
      const theirs = worker.get(`${kind}/computed here`, kind, 2)
      await until(cache, (stats) => stats.coalesced > coalesced)
      board.open(here)
      // Computed in the worker, held until this thread's calls wait for it.
      const there = gate()
      const workerComputes = worker.get(`${kind}/computed there`, kind, 1, there)
      await board.computations(computed + 2)
      const before = (await cache.stats()).coalesced
      const waiting = Promise.all([got(cached(cache, `${kind}/computed there`, making(board, kind))), got(cached(cache, `${kind}/computed there`, making(board, kind)))])
      await until(cache, (stats) => stats.coalesced > before)
      board.open(there)
      sameKinds(t, kind, {
        'the computer here': [await mine],
        'the waiters in another thread': await theirs,
        'the computer in another thread': await workerComputes,
        'the waiters here': await waiting,
      })
    }
    t.is(board.computed, 2 * KINDS.length)
  }))

test('a value comes back the same kind from another process (memoryBus peers), as computer, waiter, and hit', async (t) => {
  const cluster = await peers(t, 'kinds', 2)
  const [a, b] = cluster.members as [Member, Member]
  const ownedByA = cluster.keysOf(a, KINDS.length, 'of-a-')
  const ownedByB = cluster.keysOf(b, KINDS.length, 'of-b-')
  const gate = gates()
  for (const [i, kind] of KINDS.entries()) {
    // b computes a key a owns, held until a's calls wait for it: a's waiters get it over the bus.
    const held = gate()
    const computer = got(cached(b.cache, ownedByA[i] as string, making(b.board, kind, held)))
    await b.board.computations(i + 1)
    const before = (await a.cache.stats({ local: true })).coalesced
    const waiters = Promise.all([0, 1].map(() => got(cached(a.cache, ownedByA[i] as string, making(a.board, kind)))))
    await until({ stats: () => a.cache.stats({ local: true }) }, (stats) => stats.coalesced > before)
    b.board.open(held)
    // a computes a key b owns: b's owner stores what came over the bus; b hits it, then a near copy.
    const aComputes = [await got(cached(a.cache, ownedByB[i] as string, making(a.board, kind)))]
    const bHits = [await got(cached(b.cache, ownedByB[i] as string, making(b.board, kind))), await got(cached(b.cache, ownedByB[i] as string, making(b.board, kind)))]
    sameKinds(t, kind, {
      'the computer in b': [await computer],
      'the waiters in a': await waiters,
      'a hit in a of what came from b': [await got(cached(a.cache, ownedByA[i] as string, making(a.board, kind)))],
      'the computer in a': aComputes,
      'hits in b of what came from a': bHits,
    })
  }
  t.is(a.board.computed + b.board.computed, 2 * KINDS.length)
})

/** What every caller of a refused value must get: the class and where it is, with the key. */
function refusedAll(t: ExecutionContext, name: Instance, key: string, results: readonly Got[]): void {
  const message = `the value computed for key ${JSON.stringify(key)} cannot be shared with other callers as it is (${instances[name].where}, which would reach other callers without its prototype)`
  const wrong = results.filter((r) => !('error' in r) || r.error.name !== 'ValueNotCloneableError' || r.error.code !== 'ERR_COOP_CACHE_NOT_CLONEABLE' || !r.error.message.startsWith(message))
  t.deepEqual(wrong, [], `${name}: every caller gets ValueNotCloneableError saying "${instances[name].where}"`)
  t.is(results.length > 0, true)
}

test('a value holding a class instance, anywhere in it, is refused with ValueNotCloneableError for its computer and every waiter, and is not stored', (t) =>
  withCache({ name: 'kinds-refused', threads: 2 }, 0, async ({ cache, board }) => {
    const worker = new KindThread(cache, board)
    t.teardown(() => worker.end())
    const gate = gates()
    for (const [i, name] of INSTANCES.entries()) {
      const key = `refused/${name}`
      const held = gate()
      const computed = board.computed
      const coalesced = (await cache.stats()).coalesced
      // Computed here for even ones, in the worker for odd ones; the other thread waits, and the
      // computer's own thread has a second call that joins it.
      const computesHere = i % 2 === 0
      const here = computesHere ? [making(board, name, held), making(board, name)] : [making(board, name), making(board, name)]
      const there = computesHere ? undefined : held
      const first = computesHere ? Promise.all(here.map((fn) => got(cached(cache, key, fn)))) : worker.get(key, name, 2, there)
      await board.computations(computed + 1)
      const second = computesHere ? worker.get(key, name, 2) : Promise.all(here.map((fn) => got(cached(cache, key, fn))))
      await until(cache, (stats) => stats.coalesced > coalesced)
      board.open(held)
      refusedAll(t, name, key, [...(await first), ...(await second)])
      t.is(board.computed, computed + 1, 'one computation, refused to all')
      // Nothing was stored: the next call computes again.
      t.is(await cached(cache, key, () => 'plain data'), 'plain data')
    }
    t.like(await cache.stats(), { stored: INSTANCES.length, failures: INSTANCES.length })
  }))

test('a class instance computed in one process is refused to the waiters of another, and stored in neither', async (t) => {
  const cluster = await peers(t, 'kinds-refused', 2)
  const [a, b] = cluster.members as [Member, Member]
  const keys = cluster.keysOf(a, 2, 'refused-')
  const names: Instance[] = ['a class instance', 'an instance in a Map']
  for (const [i, key] of keys.entries()) {
    const name = names[i] as Instance
    // b computes a key a owns, while a waits for it.
    const computer = got(cached(b.cache, key, making(b.board, name, i)))
    await b.board.computations(i + 1)
    const before = (await a.cache.stats({ local: true })).coalesced
    const waiters = Promise.all([0, 1].map(() => got(cached(a.cache, key, making(a.board, 'a small Buffer')))))
    await until({ stats: () => a.cache.stats({ local: true }) }, (stats) => stats.coalesced > before)
    b.board.open(i)
    refusedAll(t, name, key, [await computer, ...(await waiters)])
  }
  t.is(a.board.computed, 0)
  // Stored nowhere: the next calls compute again.
  for (const m of [a, b]) t.is((await m.cache.stats({ local: true })).stored, 0)
  for (const key of keys) t.is(await cached(b.cache, key, () => 'plain data'), 'plain data')
})
