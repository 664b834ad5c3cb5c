// What a thread posts on one port goes in batches: an array of messages when there are several.
// Each postMessage costs a structured clone's setup, a lock, a wake-up of the receiving thread,
// and a message event there; under load one event leads to many requests and answers on the
// same link, and these costs, paid once per batch rather than once per message, were a large
// share of a miss (a fill through cached()). A batch leaves once the loop has run the other
// callbacks of the phase it was begun in (setImmediate): the messages two owners sent at once
// arrive as two events, and the requests that answering both makes go in one batch, not two (the
// default two owners, a thousand hits in flight from the main thread: 55-75 k/s when each event
// flushed its own batch, 130-230 k/s so). What must not wait (the sender's `urgent`) leaves once
// the current event's microtasks are done; and a batch of BATCH_MAX leaves at once. Batches carry
// batches on: an owner that handles a caller's batch of requests answers them in one message,
// whose computations resolve in one go, whose puts go together. Order on the port is kept:
// everything posted on it goes through its outbox. Every message of the protocol is an object,
// so an array on a port is always a batch (see `each`).
import type { MessagePort } from 'node:worker_threads'

/**
 * A batch is posted as soon as it holds this many messages, without waiting for the phase's end:
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
  /** whether a message must leave once the event's microtasks are done (see post) */
  readonly #urgent: ((message: M) => boolean) | undefined
  #queue: M[] = []
  #transfer: ArrayBuffer[] = []
  /** a flush is queued as a microtask */
  #soon = false
  /** a flush is queued with setImmediate */
  #later = false

  constructor(port: MessagePort, options: { readonly refused?: (message: M, error: unknown) => boolean; readonly urgent?: (message: M) => boolean } = {}) {
    this.port = port
    this.#refused = options.refused
    this.#urgent = options.urgent
  }

  /**
   * Posts `message` after what was posted before it: once the loop has run the other callbacks
   * of this phase (setImmediate), so that the answers to several events, such as the messages of
   * two owners that arrived together, go in one batch; an urgent message (see the constructor)
   * once the current event's microtasks are done, with what is queued; and at once, with what is
   * queued, when that makes BATCH_MAX.
   */
  post(message: M, transfer?: readonly ArrayBuffer[]): void {
    this.#queue.push(message)
    if (transfer !== undefined) this.#transfer.push(...transfer)
    if (this.#queue.length >= BATCH_MAX) return this.flush()
    if (this.#urgent?.(message) === true) {
      if (this.#soon) return
      this.#soon = true
      return queueMicrotask(() => {
        this.#soon = false
        this.flush()
      })
    }
    if (this.#later || this.#soon) return
    this.#later = true
    setImmediate(() => {
      this.#later = false
      this.flush()
    })
  }

  /** Posts what is queued now (before the port is closed, say). */
  flush(): void {
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

/**
 * How long, ms, a thread works through what its ports received in one turn of its event loop
 * before it lets the turn go on (its timers, the bus's socket) and takes up the rest at the end
 * of it. A port hands a thread everything queued on it at once: under a stampede of thousands of
 * keys the creating thread spent up to 1.7 s of one turn on its owners' answers, its heartbeat
 * and the bus's messages (its own among them) waiting behind them, and it took itself for cut
 * off from the bus that it had only not read yet.
 */
const TURN_BUDGET = 20

interface Received {
  readonly received: unknown
  readonly handle: (message: unknown) => void
}

/** what came past the budget, in the order it came (from any port: the order on each is kept) */
let later: Received[] = []
/** when (performance.now()) this turn's first batch was taken up, -1 before one */
let turnBegan = -1
let draining = false

/**
 * Calls `handle` with each message of what a port received (one message, or a batch): now, or,
 * when this turn has had its share (TURN_BUDGET), once the turn's other work is done.
 */
export function each<M>(received: M | readonly M[], handle: (message: M) => void): void {
  if (later.length > 0 || spent()) {
    later.push({ received, handle: handle as (message: unknown) => void })
    if (!draining) {
      draining = true
      setImmediate(drain)
    }
    return
  }
  handleAll(received, handle)
}

function handleAll<M>(received: M | readonly M[], handle: (message: M) => void): void {
  if (!Array.isArray(received)) return handle(received as M)
  for (const message of received as readonly M[]) handle(message)
}

/** Whether this turn has had its share; the first batch of a turn starts the count. */
function spent(): boolean {
  const now = performance.now()
  if (turnBegan < 0) {
    turnBegan = now
    setImmediate(() => (turnBegan = -1))
    return false
  }
  return now - turnBegan > TURN_BUDGET
}

/** Takes up what came past the budget, a turn's share at a time. */
function drain(): void {
  const began = performance.now()
  let i = 0
  try {
    // Nothing comes in meanwhile: a port's messages are handed over between callbacks.
    while (i < later.length && performance.now() - began <= TURN_BUDGET) {
      const { received, handle } = later[i++] as Received
      handleAll(received, handle)
    }
  } finally {
    // The rest waits for the next turn (what follows a handler that threw included).
    later = later.slice(i)
    draining = later.length > 0
    if (draining) setImmediate(drain)
  }
}
