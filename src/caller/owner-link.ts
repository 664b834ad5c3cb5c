import type { MessagePort } from 'node:worker_threads'
import type { AnswerMessage, CopyMessage, OwnerMessage, PingMessage, RequesterMessage } from '../shared/protocol.js'
import { connectToOwner } from '../shared/handoff.js'
import { holdingOpen } from '../shared/hold.js'
import { Outbox, each } from '../shared/outbox.js'
import { OwnerState } from '../shared/memory/owners.js'
import type { Shared } from '../shared/memory/shared.js'

/** What a link tells the caller side it serves. */
export interface LinkEvents {
  /** A message from the owner (pongs are the link's own business). */
  receive(message: AnswerMessage): void
  /** A copy of a value the owner stored for another process, offered unasked for the thread's near copies. */
  copied(message: CopyMessage): void
  /** A new link is up: the requests that waited for it are to be sent now. */
  linked(): void
  /** The owner cannot be reached: the cache closed, or supervision gave up on the owner. */
  unreachable(why: 'closed' | 'gave-up'): void
  /** A message could not be cloned to be posted (a value sent as itself), and was not sent; says whether that was dealt with. */
  refused(message: RequesterMessage, error: unknown): boolean
}

/** How long to wait for an owner to answer a connect before looking again. */
const CONNECT_WAIT = 1000

/**
 * What leaves before the code that awaited a call runs on: a computer's put or fail (its calls
 * resolve once it is queued), and a hello (which says which near slot to give back). A thread
 * terminated right after its call resolved (a pool recycling an idle worker) must not take them
 * with it: a lost put is a value computed again. The rest may wait for the loop's check phase.
 */
const urgent = (message: RequesterMessage) => message.type === 'put' || message.type === 'fail' || message.type === 'hello'

/**
 * A thread's link to one owner, and the requests it has open there (keyed by request id, unique
 * on this link for the thread's life, across reconnections). It connects when first needed, and
 * again when the owner's thread is restarted (a new instance, on a new port); while it has
 * requests open it keeps the thread alive, and lets it end when idle.
 */
export class OwnerLink<R> {
  readonly index: number
  readonly open = new Map<number, R>()
  readonly #shared: Shared
  readonly #cacheId: string
  readonly #events: LinkEvents
  readonly #hello: () => RequesterMessage | undefined
  readonly #pings = new Map<number, () => void>()
  #port: MessagePort | undefined
  /** what this thread posts on #port, a turn at a time */
  #outbox: Outbox<RequesterMessage> | undefined
  #connecting: Promise<void> | undefined
  #closed = false
  #lastId = 0

  /** `hello` is what to say first on every new link (the thread's near slot, once it has one). */
  constructor(shared: Shared, cacheId: string, index: number, events: LinkEvents, hello: () => RequesterMessage | undefined) {
    this.#shared = shared
    this.#cacheId = cacheId
    this.index = index
    this.#events = events
    this.#hello = hello
  }

  get connected(): boolean {
    return this.#port !== undefined
  }

  nextId(): number {
    return ++this.#lastId
  }

  /** Sends to the owner; without a link the message is dropped (see `linked`). */
  post(message: RequesterMessage, transfer?: ArrayBuffer[]): void {
    this.#outbox?.post(message, transfer)
  }

  /** A link with requests open keeps the thread alive; an idle one does not. */
  hold(): void {
    if (this.open.size === 1) this.#port?.ref()
  }

  release(): void {
    if (this.open.size === 0 && this.#pings.size === 0) this.#port?.unref()
  }

  /** Starts making the link, unless it is up or on its way; resolves when this attempt ends. */
  connect(): Promise<void> {
    if (this.#port !== undefined || this.#closed) return Promise.resolve()
    if (this.#connecting !== undefined) return this.#connecting
    // The calls waiting for this link hold the thread open until it is made.
    this.#connecting = holdingOpen(this.#connect()).finally(() => {
      this.#connecting = undefined
      // A port whose instance was found gone as it was linked is let go of while this
      // connection is still under way, when connect() does nothing: make the link again.
      if (this.#port === undefined && this.open.size > 0) void this.connect()
    })
    return this.#connecting
  }

  async #connect(): Promise<void> {
    const owners = this.#shared.owners
    for (;;) {
      if (this.#closed) return
      if (this.#shared.epochs.closed()) return this.#events.unreachable('closed')
      const state = owners.state(this.index)
      if (state === OwnerState.GaveUp) return this.#events.unreachable('gave-up')
      const seen = owners.generation(this.index)
      if (state === OwnerState.Running) {
        // An instance that dies after it was asked never answers: ask the next as soon as it is up.
        const moved = () => owners.generation(this.index) !== seen || owners.state(this.index) !== OwnerState.Running
        const port = await connectToOwner(this.#cacheId, this.index, CONNECT_WAIT, moved)
        if (port !== undefined) return this.#linked(port, seen)
      }
      await owners.generationChange(this.index, seen, CONNECT_WAIT)
    }
  }

  #linked(port: MessagePort, generation: number): void {
    if (this.#closed) return port.close()
    this.#port = port
    this.#outbox = new Outbox(port, { refused: (message, error) => this.#events.refused(message, error), urgent })
    port.on('message', (received: OwnerMessage | OwnerMessage[]) =>
      each(received, (message) => {
        if (message.type === 'copy') return this.#events.copied(message)
        if (message.type !== 'pong') return this.#events.receive(message)
        this.#pings.get(message.id)?.()
        this.#pings.delete(message.id)
      }),
    )
    port.on('close', () => this.#unlinked(port))
    if (this.open.size === 0) port.unref()
    this.sayHello()
    this.#events.linked()
    void this.#watch(port, generation)
  }

  /** Tells the owner what it must know of this thread (again, when it changed). */
  sayHello(): void {
    const hello = this.#hello()
    if (hello !== undefined) this.post(hello)
  }

  // A port whose owner instance died as the port was handed over may never see 'close': the link
  // also follows the owner's state in shared memory, and lets go of the port once the instance it
  // was made with has stopped, or another has started.
  async #watch(port: MessagePort, generation: number): Promise<void> {
    const owners = this.#shared.owners
    while (this.#port === port) {
      if (owners.generation(this.index) !== generation || owners.state(this.index) !== OwnerState.Running) {
        port.close()
        return this.#unlinked(port)
      }
      await owners.generationChange(this.index, generation, CONNECT_WAIT)
    }
  }

  // The owner's thread ended (a crash; its supervisor starts another) or the cache closed.
  #unlinked(port: MessagePort): void {
    if (this.#port !== port) return
    this.#port = undefined
    this.#outbox = undefined
    this.#answerPings()
    if (this.open.size > 0) void this.connect()
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
      this.post(ping)
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
    this.#outbox?.flush()
    this.#port?.close()
    this.#port = undefined
    this.#outbox = undefined
    this.#answerPings()
  }
}
