// A peer process a test gives numbered orders to over its ipc channel, as fixtures/peer-process.ts
// and fixtures/fault-peer.ts take them: each order is answered once, or fails when the process
// dies first or does not answer in time, so that a broken guarantee fails the test rather than
// hanging it. Messages of coop-cache's own (an ipcBus's envelopes) pass by. fault-peer.ts reports
// a subset of peer-process.ts's reports.
import type { ChildProcess } from 'node:child_process'
import type { Report } from '../fixtures/peer-process.js'
import { within } from './cluster.js'

interface Pending {
  readonly issued: () => void
  readonly resolve: (answer: never) => void
  readonly reject: (error: Error) => void
}

export class ChildPeer {
  readonly index: number
  readonly child: ChildProcess
  /** its id on the bus, once ready */
  peer = ''
  /** how the process ended: a signal's name or `code N`; undefined while it runs */
  ended: string | undefined
  readonly exited: Promise<void>
  readonly #pending = new Map<number, Pending>()
  #lastId = 0

  constructor(index: number, child: ChildProcess) {
    this.index = index
    this.child = child
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.ended = signal ?? `code ${code}`
        for (const pending of this.#pending.values()) pending.reject(new Error(this.#gone()))
        this.#pending.clear()
        resolve()
      })
    })
    // A send to a process that has just died fails here; its pending orders fail on 'exit'.
    child.on('error', () => {})
    child.on('message', (report: Report | Record<string, unknown>) => {
      if ('coop-cache' in report || !('id' in report)) return
      const r = report as Extract<Report, { id: number }>
      const pending = this.#pending.get(r.id)
      if (pending === undefined) return
      if (r.event === 'issued') return pending.issued()
      this.#pending.delete(r.id)
      if (r.event === 'answer') pending.resolve(r.answer as never)
      else pending.reject(new Error(`peer ${index} (pid ${child.pid}) failed an order: ${r.message}`))
    })
  }

  get pid(): number {
    return this.child.pid as number
  }

  get alive(): boolean {
    return this.ended === undefined
  }

  #gone(): string {
    return `peer ${this.index} (pid ${this.child.pid}) exited with ${this.ended}`
  }

  /** Resolves once the process says it is ready. */
  ready(ms: number): Promise<void> {
    return within(
      new Promise<void>((resolve, reject) => {
        const onMessage = (report: Report | Record<string, unknown>) => {
          if (!('event' in report)) return
          if (report.event === 'ready') {
            this.peer = (report as { peer: string }).peer
            this.child.off('message', onMessage)
            resolve()
          } else if (report.event === 'failed') reject(new Error(`peer ${this.index} could not start: ${(report as { message: string }).message}`))
        }
        this.child.on('message', onMessage)
        void this.exited.then(() => reject(new Error(`${this.#gone()} before it was ready`)))
      }),
      ms,
      `peer ${this.index} (pid ${this.child.pid}) to start`,
    )
  }

  /** Gives `order`; rejects when it is not answered within `ms` or the process dies first. `issued` is called if the process reports the order under way. */
  order<A>(order: object, ms: number, issued: () => void = () => {}): Promise<A> {
    if (this.ended !== undefined) return Promise.reject(new Error(this.#gone()))
    const id = ++this.#lastId
    const answer = new Promise<A>((resolve, reject) => this.#pending.set(id, { issued, resolve: resolve as (answer: never) => void, reject }))
    this.child.send({ id, order }, (error) => {
      if (error) this.#pending.get(id)?.reject(error)
    })
    return within(answer, ms, `peer ${this.index} (pid ${this.child.pid}) to do ${JSON.stringify(order).slice(0, 120)}`)
  }

  /** SIGKILL (after a SIGCONT, should it be stopped); resolves once it has exited. */
  async kill(): Promise<void> {
    if (this.ended === undefined) {
      this.child.kill('SIGCONT')
      this.child.kill('SIGKILL')
    }
    await this.exited
  }
}
