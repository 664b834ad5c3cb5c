import type { MessagePort } from 'node:worker_threads'
import type { CallerMessage, OwnerMessage, PingMessage, PongMessage } from './protocol.js'
import { connectToOwner } from './handoff.js'
import { OwnerState, holdingOpen, type SharedState } from './shared.js'

/** What a link tells the caller side it serves. */
export interface LinkEvents {
  /** A message from the owner (pongs are the link's own business). */
  receive(message: Exclude<OwnerMessage, PongMessage>): void
  /** A new link is up: the requests that waited for it are to be sent now. */
  linked(): void
  /** The owner cannot be reached: the cache closed, or supervision gave up on the owner. */
  unreachable(why: 'closed' | 'gave-up'): void
}

/** How long to wait for an owner to answer a connect before looking again. */
const CONNECT_WAIT = 1000

/**
 * A thread's link to one owner, and the requests it has open there (keyed by request id).
 * It connects when first needed, and again when the owner's thread is restarted; while it
 * has requests open it keeps the thread alive, and lets it end when idle.
 */
export class OwnerLink<R> {
  readonly index: number
  readonly open = new Map<number, R>()
  readonly #shared: SharedState
  readonly #cacheId: string
  readonly #events: LinkEvents
  readonly #pings = new Map<number, () => void>()
  #port: MessagePort | undefined
  #connecting = false
  #closed = false
  #lastId = 0

  constructor(shared: SharedState, cacheId: string, index: number, events: LinkEvents) {
    this.#shared = shared
    this.#cacheId = cacheId
    this.index = index
    this.#events = events
  }

  get connected(): boolean {
    return this.#port !== undefined
  }

  nextId(): number {
    return ++this.#lastId
  }

  /** Sends to the owner; without a link the message is dropped (see `linked`). */
  post(message: CallerMessage, transfer?: ArrayBuffer[]): void {
    this.#port?.postMessage(message, transfer)
  }

  /** A link with requests open keeps the thread alive; an idle one does not. */
  hold(): void {
    if (this.open.size === 1) this.#port?.ref()
  }

  release(): void {
    if (this.open.size === 0 && this.#pings.size === 0) this.#port?.unref()
  }

  /** Starts making the link, unless it is up or on its way. */
  connect(): void {
    if (this.#port !== undefined || this.#connecting || this.#closed) return
    this.#connecting = true
    // The calls waiting for this link hold the thread open until it is made.
    void holdingOpen(this.#connect()).finally(() => (this.#connecting = false))
  }

  async #connect(): Promise<void> {
    for (;;) {
      if (this.#closed) return
      if (this.#shared.closed()) return this.#events.unreachable('closed')
      const state = this.#shared.ownerState(this.index)
      if (state === OwnerState.GaveUp) return this.#events.unreachable('gave-up')
      const seen = this.#shared.generation(this.index)
      if (state === OwnerState.Running) {
        const port = await connectToOwner(this.#cacheId, this.index, CONNECT_WAIT)
        if (port !== undefined) return this.#linked(port)
      }
      await this.#shared.generationChange(this.index, seen, CONNECT_WAIT)
    }
  }

  #linked(port: MessagePort): void {
    if (this.#closed) return port.close()
    this.#port = port
    port.on('message', (message: OwnerMessage) => {
      if (message.type !== 'pong') return this.#events.receive(message)
      this.#pings.get(message.id)?.()
      this.#pings.delete(message.id)
    })
    port.on('close', () => this.#unlinked(port))
    if (this.open.size === 0) port.unref()
    this.#events.linked()
  }

  // The owner's thread ended (a crash; its supervisor starts another) or the cache closed.
  #unlinked(port: MessagePort): void {
    if (this.#port !== port) return
    this.#port = undefined
    this.#answerPings()
    if (this.open.size > 0) this.connect()
  }

  /** Resolves when the owner has handled everything sent on this link so far. */
  async flush(): Promise<void> {
    const port = this.#port
    if (port === undefined) return
    const id = this.nextId()
    await new Promise<void>((resolve) => {
      this.#pings.set(id, resolve)
      port.ref()
      const ping: PingMessage = { type: 'ping', id }
      port.postMessage(ping)
    })
    this.release()
  }

  #answerPings(): void {
    for (const answer of this.#pings.values()) answer()
    this.#pings.clear()
  }

  /** Ends the link for good. */
  close(): void {
    this.#closed = true
    this.#port?.close()
    this.#port = undefined
    this.#answerPings()
  }
}
