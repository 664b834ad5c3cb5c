// The test's side of the caller fixture: a worker thread that uses the cache on command.
import { Worker } from 'node:worker_threads'
import type { Cache } from 'coop-cache'
import type { Board, CallLife, FnSpec, Outcome } from './board.js'

export type Command =
  | { op: 'cached'; id: number; key: unknown; spec: FnSpec; count: number; options?: CallSpec }
  | { op: 'reset'; id: number; version: unknown }
  | { op: 'invalidate'; id: number; key: unknown; prefix: boolean }
  | { op: 'stats'; id: number }
  | { op: 'close'; id: number }

/** The per-call options a worker's calls are made with, as plain data. */
export interface CallSpec extends CallLife {
  /** the calls' `timeout` option, in ms */
  readonly timeout?: number
  /** each call passes a `status` object, and its outcome carries `status.outcome` */
  readonly status?: boolean
}

type Unsent<C> = C extends unknown ? Omit<C, 'id'> : never

type Reply = { id: number; issued?: true; outcomes?: Outcome[] }

/** A call made in a worker: `issued` resolves once cached() was called there, `done` when all settled. */
export interface Remote {
  readonly issued: Promise<void>
  readonly done: Promise<Outcome[]>
}

export class CallerThread {
  readonly worker: Worker
  readonly #pending = new Map<number, { issued: () => void; done: (outcomes: Outcome[]) => void; fail: (error: Error) => void }>()
  #lastId = 0

  constructor(cache: Cache, board: Board) {
    this.worker = new Worker(new URL('../fixtures/caller.js', import.meta.url), { workerData: { cache: cache.handle, board: board.buffer } })
    this.worker.on('message', (reply: Reply) => {
      const pending = this.#pending.get(reply.id)
      if (reply.issued === true) pending?.issued()
      if (reply.outcomes !== undefined) {
        this.#pending.delete(reply.id)
        pending?.done(reply.outcomes)
      }
    })
    const fail = (error: Error) => {
      for (const pending of this.#pending.values()) pending.fail(error)
      this.#pending.clear()
    }
    this.worker.on('error', fail)
    this.worker.on('exit', (code) => fail(new Error(`caller thread exited with code ${code}`)))
  }

  #send(command: Unsent<Command>): Remote {
    const id = ++this.#lastId
    let issued!: () => void
    let done!: (outcomes: Outcome[]) => void
    let fail!: (error: Error) => void
    const issuedP = new Promise<void>((resolve, reject) => {
      issued = resolve
      fail = reject
    })
    const doneP = new Promise<Outcome[]>((resolve, reject) => {
      done = (outcomes) => {
        issued()
        resolve(outcomes)
      }
      const failIssued = fail
      fail = (error) => {
        failIssued(error)
        reject(error)
      }
    })
    issuedP.catch(() => {})
    this.#pending.set(id, { issued, done, fail })
    this.worker.postMessage({ ...command, id })
    return { issued: issuedP, done: doneP }
  }

  /**
   * `count` concurrent cached() calls for `key` in the worker, each with fn from `spec`; with
   * `options`, each call passes them, and with `status: true`, a ttl or a grace, its outcome says how the value came.
   */
  cached(key: unknown, spec: FnSpec, count = 1, options?: CallSpec): Remote {
    return this.#send(options === undefined ? { op: 'cached', key, spec, count } : { op: 'cached', key, spec, count, options })
  }

  async reset(version: unknown): Promise<Outcome> {
    return ((await this.#send({ op: 'reset', version }).done)[0]) as Outcome
  }

  async invalidate(key: unknown, prefix = false): Promise<Outcome> {
    return ((await this.#send({ op: 'invalidate', key, prefix }).done)[0]) as Outcome
  }

  async stats(): Promise<Outcome> {
    return ((await this.#send({ op: 'stats' }).done)[0]) as Outcome
  }

  async close(): Promise<Outcome> {
    return ((await this.#send({ op: 'close' }).done)[0]) as Outcome
  }

  async end(): Promise<void> {
    await this.worker.terminate()
  }
}

/** Starts `n` caller threads on `cache`. */
export async function callerThreads(cache: Cache, board: Board, n: number): Promise<CallerThread[]> {
  const threads = Array.from({ length: n }, () => new CallerThread(cache, board))
  await Promise.all(threads.map((t) => new Promise((resolve) => t.worker.once('online', resolve))))
  return threads
}
