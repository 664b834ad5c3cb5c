import type { MessagePort } from 'node:worker_threads'
import type { AnswerMessage, PongMessage } from '../shared/protocol.js'
import type { Entry } from './store.js'
import type { Flight } from './flights.js'

/** A request as an owner knows it: who asked (on which link, under which id) and for what key. */
export interface Request {
  readonly from: Requester
  readonly id: number
  readonly key: string
  /** only a value stored or being computed: never computes (see GetMessage.peek) */
  readonly peek: boolean
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

  constructor(port: MessagePort, relayed: boolean) {
    this.port = port
    this.relayed = relayed
  }

  send(message: AnswerMessage | PongMessage): void {
    this.port.postMessage(message)
  }

  /** Answers `request` with a value of `epoch`: as itself when the entry keeps it, else as bytes. */
  sendValue(request: Request, epoch: number, entry: Entry, stored: boolean, hit: boolean): void {
    const { id, key } = request
    const { size } = entry
    this.send(
      entry.bytes === undefined
        ? { type: 'value', id, key, epoch, value: entry.value, size, stored, hit }
        : { type: 'value', id, key, epoch, bytes: entry.bytes, size, stored, hit },
    )
  }
}
