// Guarantee 8, nothing wedges: a thread terminated inside reset() (piscina does this to the
// worker of a running task that is aborted) leaves nothing in shared memory that others wait on.
// Threads attached to a cache reset it in a tight loop and are terminated at random moments;
// after each, every thread can still reset, read the version, compute a cold key and read the
// stats, each within a bound. The reads that could spin run in a probe thread first, so that a
// spin fails the test rather than hanging it.
import test, { type ExecutionContext } from 'ava'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { Piscina } from 'piscina'
import { cached, createCache, reset, type Cache } from 'coop-cache'
import { eventually, sleep, within } from './helpers/cluster.js'
import { peers } from './helpers/pair.js'
import { ProbeThread, type Probe, type ProbeAnswer } from './helpers/probe-thread.js'
import { RESOLVED, STARTED, THREAD, type LoopMode } from './fixtures/reset-loop.js'

const MODES: readonly LoopMode[] = ['alternate', 'same', 'new']
/** How long anything may take after a termination: a reset, a read, a cold computation. */
const BOUND = 3000
/** The longest a thread loops over reset() before it is terminated, in ms. */
const MAX_LIFE = 15

const looper = new URL('./fixtures/reset-looper.js', import.meta.url)

/** Terminations so far, and how many of them landed while a reset() was under way. */
interface Tally {
  tries: number
  inside: number
}

/** Starts a thread that resets `cache` in a loop, terminates it at a random moment; says whether that was inside a reset. */
async function killLooper(cache: Cache, mode: LoopMode, tag: string): Promise<boolean> {
  const progress = new Int32Array(new SharedArrayBuffer(12))
  const worker = new Worker(looper, { workerData: { cache: cache.handle, progress: progress.buffer, mode, tag } })
  worker.on('error', () => {})
  await within(once(worker, 'message'), 10_000, 'a looping thread to attach')
  await sleep(Math.random() * MAX_LIFE)
  await worker.terminate()
  return Atomics.load(progress, STARTED) > Atomics.load(progress, RESOLVED)
}

async function answer(probe: ProbeThread, question: Probe, what: string): Promise<unknown> {
  const reply: ProbeAnswer = await probe.ask(question, BOUND, what)
  if (!reply.ok) throw new Error(`${question.op} in another thread${what} failed: ${reply.error}`)
  return reply.value
}

/** Every use of the cache, from the probe thread and then this one, settles within BOUND. */
async function usable(t: ExecutionContext, cache: Cache, probe: ProbeThread, n: number): Promise<void> {
  const after = ` after termination round ${n}`
  await answer(probe, { op: 'version' }, after)
  await answer(probe, { op: 'stats' }, after)
  t.regex(String(await answer(probe, { op: 'cold', key: `cold-probe-${n}` }, after)), new RegExp(`^cold-probe-${n}@`))
  t.is(await answer(probe, { op: 'reset', version: `probe-${n}` }, after), `probe-${n}`)
  await within(reset(cache, `main-${n}`), BOUND, `reset() in the creating thread${after}`)
  t.is(cache.version, `main-${n}`)
  const cold = await within(cached(cache, `cold-main-${n}`, ({ version }) => String(version)), BOUND, `a cold cached() in the creating thread${after}`)
  t.is(cold, `main-${n}`)
  t.like(await within(cache.stats(), BOUND, `stats() in the creating thread${after}`), { version: `main-${n}` })
  t.is(await answer(probe, { op: 'version' }, after), `main-${n}`)
}

async function probing(t: ExecutionContext, cache: Cache): Promise<ProbeThread> {
  const probe = new ProbeThread(cache)
  t.teardown(() => probe.end())
  await probe.attached()
  return probe
}

/** Whether to terminate more: at least `least` times however slow the machine, then while `budget` ms last (up to 300). */
function more(tally: Tally, started: number, least: number, budget: number): boolean {
  return tally.tries < least || (Date.now() - started < budget && tally.tries < 300)
}

function report(t: ExecutionContext, tally: Tally, started: number): void {
  t.log(`${tally.tries} threads terminated in ${Date.now() - started} ms, ${tally.inside} of them inside reset()`)
  // The fault was injected, and mostly where it hurts.
  t.true(tally.inside >= tally.tries / 2, `only ${tally.inside} of ${tally.tries} terminations landed inside reset()`)
}

test.serial('threads terminated inside reset() leave every other thread able to reset, read the version, compute and read stats', async (t) => {
  const cache = await createCache({ name: 'no-wedge', threads: 2 })
  t.teardown(() => cache.close())
  const probe = await probing(t, cache)
  const tally: Tally = { tries: 0, inside: 0 }
  const started = Date.now()
  for (let n = 0; more(tally, started, 40, 7000); n++) {
    // Two threads at once, both in one mode: each is terminated at a moment of its own.
    const mode = MODES[n % MODES.length] as LoopMode
    const inside = await Promise.all([0, 1].map((i) => killLooper(cache, mode, `w${n}.${i}`)))
    tally.tries += inside.length
    tally.inside += inside.filter(Boolean).length
    await usable(t, cache, probe, n)
  }
  report(t, tally, started)
})

test.serial('piscina tasks aborted while they reset, which terminates their workers, leave the cache usable', async (t) => {
  const cache = await createCache({ name: 'no-wedge-piscina', threads: 1 })
  t.teardown(() => cache.close())
  const progress = new Int32Array(new SharedArrayBuffer(12))
  const pool = new Piscina({
    filename: new URL('./fixtures/piscina-reset-task.js', import.meta.url).href,
    workerData: { cache: cache.handle, progress: progress.buffer },
    minThreads: 1,
    maxThreads: 1,
  })
  t.teardown(() => pool.destroy())
  const probe = await probing(t, cache)
  const tally: Tally = { tries: 0, inside: 0 }
  const threads = new Set<number>()
  // Each task killed inside a reset leaves one reset started and never resolved.
  let unresolved = 0
  const started = Date.now()
  for (let n = 0; more(tally, started, 6, 2500); n++) {
    const before = Atomics.load(progress, STARTED)
    const controller = new AbortController()
    const run = pool.run({ mode: MODES[n % MODES.length], tag: `p${n}` }, { signal: controller.signal })
    run.catch(() => {})
    await eventually(t, () => `task ${n} to start resetting`, () => Atomics.load(progress, STARTED) > before, BOUND)
    const thread = Atomics.load(progress, THREAD)
    const worker = pool.threads.find((w) => w.threadId === thread)
    if (worker === undefined) return t.fail(`the pool has no thread ${thread}`)
    const exited = once(worker, 'exit')
    await sleep(Math.random() * MAX_LIFE)
    controller.abort()
    await t.throwsAsync(run, { name: 'AbortError' })
    await within(exited, BOUND, `piscina to terminate the worker of aborted task ${n}`)
    threads.add(thread)
    tally.tries++
    const now = Atomics.load(progress, STARTED) - Atomics.load(progress, RESOLVED)
    if (now > unresolved) tally.inside++
    unresolved = now
    await usable(t, cache, probe, n)
  }
  t.is(threads.size, tally.tries, 'each abort ended a thread of its own')
  report(t, tally, started)
})

test.serial('in a cluster, threads terminated inside reset() on one peer do not keep it from taking another peer\'s reset', async (t) => {
  const cluster = await peers(t, 'no-wedge', 2)
  const [a, b] = cluster.members as [(typeof cluster.members)[0], (typeof cluster.members)[0]]
  const probe = await probing(t, a.cache)
  const tally: Tally = { tries: 0, inside: 0 }
  const started = Date.now()
  for (let n = 0; more(tally, started, 10, 3000); n++) {
    const mode = MODES[n % MODES.length] as LoopMode
    const inside = await Promise.all([0, 1].map((i) => killLooper(a.cache, mode, `c${n}.${i}`)))
    tally.tries += inside.length
    tally.inside += inside.filter(Boolean).length
    await answer(probe, { op: 'version' }, ` after termination round ${n}`)
    await within(reset(a.cache, `a-${n}`), BOUND, `a's reset() after termination round ${n}`)
  }
  report(t, tally, started)
  // Now b resets: a takes b's version, and serves it, from every thread.
  const version = `from-b-${Date.now()}`
  await within(reset(b.cache, version), BOUND, 'b\'s reset() to resolve')
  await eventually(t, () => `a to take b's version (a is on ${String(a.cache.version)})`, () => a.cache.version === version, BOUND)
  t.is(await answer(probe, { op: 'version' }, ''), version)
  const keys = [...cluster.keysOf(a, 2, 'a-owns-'), ...cluster.keysOf(b, 2, 'b-owns-')]
  for (const key of keys) {
    const value = `${key}@${version}`
    t.is(await within(cached(a.cache, key, ({ version: v }) => `${key}@${String(v)}`), BOUND, `a's call for ${key}`), value)
    t.is(await answer(probe, { op: 'cold', key }, ''), value)
    t.is(await within(cached(b.cache, key, () => 'must not compute again'), BOUND, `b's call for ${key}`), value)
  }
})
