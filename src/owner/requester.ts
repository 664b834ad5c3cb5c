import type { MessagePort } from 'node:worker_threads'
import type { CopyMessage, OwnerMessage, OwnerToAgent, ValueMessage } from '../shared/protocol.js'
import { Outbox } from '../shared/outbox.js'
import type { Fence } from '../shared/memory/fences.js'
import type { Entry } from './store.js'
import type { Flight } from './flights.js'

/** A request as an owner knows it: who asked (on which link, under which id) and for what key. */
export interface Request {
  readonly from: Requester
  readonly id: number
  readonly key: string
  /** only a value stored or being computed: never computes (see GetMessage.peek) */
  readonly peek: boolean
  /** only a stored value that has not expired, at once (see GetMessage.look) */
  readonly look: boolean
  /** a background refresh (see GetMessage.refresh) */
  readonly refresh: boolean
  /** the flight it is in, while it waits or computes */
  flight: Flight | undefined
}

/**
 * One link to this owner instance, and the requests open on it: a caller thread's, or the peer
 * agent's (which asks for other processes). Its port closing means the thread that held the
 * other end is gone, or has closed its use of the cache.
 */
export class Requester {
  readonly port: MessagePort
  /** the peer agent's link: its requests come from other processes */
  readonly relayed: boolean
  readonly open = new Map<number, Request>()
  /** the near slot of the caller thread, given back if the link closes first (see counters.ts) */
  nearSlot = -1
  nearToken = 0
  /** the caller thread takes copies of values from other processes (HelloMessage.offers) */
  offers = false
  /** what the owner posts on the port, a turn at a time (see outbox.ts) */
  readonly #outbox: Outbox<OwnerMessage | OwnerToAgent>

  constructor(port: MessagePort, relayed: boolean) {
    this.port = port
    this.relayed = relayed
    this.#outbox = new Outbox(port)
  }

  send(message: OwnerMessage | OwnerToAgent): void {
    this.#outbox.post(message)
  }

  /** Posts what is queued now: before the port closes. */
  flush(): void {
    this.#outbox.flush()
  }

  /** Answers `request` with a value of `epoch`, as `how` says (answer-bits.ts): as itself when the entry keeps it, else as bytes. */
  sendValue(request: Request, epoch: number, entry: Entry, how: number, fence: Fence): void {
    const { id, key } = request
    const { expires, staleUntil } = entry
    const message: Mutable<ValueMessage> =
      entry.bytes === undefined ? { type: 'value', id, key, epoch, value: entry.value, how, fence } : { type: 'value', id, key, epoch, bytes: entry.bytes, how, fence }
    if (expires !== 0) {
      message.expires = expires
      if (staleUntil !== 0) message.staleUntil = staleUntil
    }
    this.send(message)
  }

  /** Offers the caller thread a copy of `entry`, a value held as itself, for its near copies (CopyMessage). */
  sendCopy(key: string, epoch: number, entry: Entry, fence: Fence): void {
    const { expires } = entry
    const message: Mutable<CopyMessage> = { type: 'copy', key, epoch, value: entry.value, fence }
    if (expires !== 0) message.expires = expires
    this.send(message)
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }
