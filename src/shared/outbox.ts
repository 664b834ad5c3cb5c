// What a thread posts on one port while it handles one event (a message, a timer, a call and the
// promise callbacks that follow it) goes as one message: an array of them when there are several
// (up to BATCH_MAX; a larger burst goes in several).
// Flushed when the event's microtasks are done, not at the end of the loop's turn: a thread that
// is terminated right after it answered (a pool recycling an idle worker) must not take a put or
// a hello with it. Batches carry batches on: an owner that handles a caller's batch of requests
// answers them in one message, whose computations resolve in one go, whose puts go together.
// Each postMessage costs a structured clone's setup, a lock, a wake-up of the receiving thread,
// and a message event there; under load one event leads to many
// requests and answers on the same link, and these costs, paid once per event rather than once
// per message, were a large share of a miss (a fill through cached()). Order on the port is
// kept: everything posted on it goes through its outbox. Every message of the protocol is an
// object, so an array on a port is always a batch (see `each`).
import type { MessagePort } from 'node:worker_threads'

/**
 * A batch is posted as soon as it holds this many messages, without waiting for the event's end:
 * the receiving thread starts on it while this one makes the next. One batch per event made the
 * two threads take turns, each idle while the other worked through a thousand messages (1,000
 * hits in flight from the main thread to one owner thread, bench scenario 3 alone, two runs
 * each: 177 and 188 k/s in whole batches, 205 and 218 k/s in batches of 128; 64 and 256 did about
 * as well as 128, 512 little better than whole batches).
 */
const BATCH_MAX = 128

export class Outbox<M> {
  readonly port: MessagePort
  /** told of a message that could not be cloned; says whether it dealt with it (else a warning says so) */
  readonly #refused: ((message: M, error: unknown) => boolean) | undefined
  #queue: M[] = []
  #transfer: ArrayBuffer[] = []
  #scheduled = false

  constructor(port: MessagePort, refused?: (message: M, error: unknown) => boolean) {
    this.port = port
    this.#refused = refused
  }

  /**
   * Posts `message` once the current event's microtasks are done, after what was posted before it;
   * at once, with what is queued, when that makes BATCH_MAX.
   */
  post(message: M, transfer?: readonly ArrayBuffer[]): void {
    this.#queue.push(message)
    if (transfer !== undefined) this.#transfer.push(...transfer)
    if (this.#queue.length >= BATCH_MAX) return this.flush()
    if (this.#scheduled) return
    this.#scheduled = true
    queueMicrotask(() => this.flush())
  }

  /** Posts what is queued now (before the port is closed, say). */
  flush(): void {
    this.#scheduled = false
    const queue = this.#queue
    if (queue.length === 0) return
    const transfer = this.#transfer
    this.#queue = []
    this.#transfer = []
    try {
      this.port.postMessage(queue.length === 1 ? queue[0] : queue, transfer)
    } catch (error) {
      // Values are checked before they are posted, but a value sent as itself may still fail
      // to clone (a Proxy, a getter that throws): the others still go, and the sender is told of
      // the one that did not (or it is said once), rather than throw from a microtask into
      // whichever thread this is.
      if (queue.length > 1) for (const message of queue) this.#postAlone(message)
      else this.#notPosted(queue[0] as M, error)
    }
  }

  #postAlone(message: M): void {
    try {
      this.port.postMessage(message)
    } catch (error) {
      this.#notPosted(message, error)
    }
  }

  #notPosted(message: M, error: unknown): void {
    if (this.#refused?.(message, error) !== true) warnOnce(error)
  }
}

let warned = false
function warnOnce(error: unknown): void {
  if (warned) return
  warned = true
  process.emitWarning(`coop-cache: a message between threads could not be posted, and was dropped: ${String((error as Error)?.message ?? error)}`, { code: 'COOP_CACHE_POST_FAILED' })
}

/** Calls `handle` with each message of what a port received: one message, or a batch. */
export function each<M>(received: M | readonly M[], handle: (message: M) => void): void {
  if (!Array.isArray(received)) return handle(received as M)
  for (const message of received as readonly M[]) handle(message)
}
