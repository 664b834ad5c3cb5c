// The test's side of the probe fixture: a worker thread attached to a cache that answers probes
// (read the version, compute a cold key, read the stats, reset), each within a deadline. It is
// how a test checks that a thread can still use the cache without risking its own thread: a
// probe that spins or waits forever fails the test, and terminate() ends the spin.
import { Worker } from 'node:worker_threads'
import type { Cache } from 'coop-cache'
import { within } from './cluster.js'

export type Probe = { op: 'version' } | { op: 'cold'; key: string } | { op: 'stats' } | { op: 'reset'; version: unknown }
export type ProbeAnswer = { ok: true; value: unknown } | { ok: false; error: string }

export class ProbeThread {
  readonly #worker: Worker
  readonly #answers: ((answer: ProbeAnswer) => void)[] = []
  readonly #attached: Promise<ProbeAnswer>

  constructor(cache: Cache) {
    this.#worker = new Worker(new URL('../fixtures/probe.js', import.meta.url), { workerData: { cache: cache.handle } })
    this.#worker.on('error', () => {})
    this.#attached = new Promise((resolve) => this.#answers.push(resolve))
    this.#worker.on('message', (answer: ProbeAnswer) => this.#answers.shift()?.(answer))
  }

  /** Resolves once the thread has attached; rejects after `ms`. */
  async attached(ms = 10_000): Promise<void> {
    await within(this.#attached, ms, 'a probe thread to attach to the cache')
  }

  /** The thread's answer to `probe`; rejects, naming the probe, when none comes within `ms`. */
  async ask(probe: Probe, ms: number, what = ''): Promise<ProbeAnswer> {
    const answer = new Promise<ProbeAnswer>((resolve) => this.#answers.push(resolve))
    this.#worker.postMessage(probe)
    return within(answer, ms, `${probe.op} in another thread${what}`)
  }

  async end(): Promise<void> {
    await this.#worker.terminate()
  }
}
