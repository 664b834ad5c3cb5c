// A new owner thread runs its request path once before it says it is ready. A thread starts with
// none of its functions compiled and none of their inline caches filled: the first misses a fresh
// owner answered took 1 to 2.4 ms each, where a warm one takes 0.15 to 0.3 ms, and a cold
// stampede on a cache just made waited that long before its first computation began (bench
// scenarios 4 and 8). So the thread rehearses: a private Owner, on memory of its own and a
// MessageChannel of its own, is asked for keys by several requesters at once, given their values,
// and asked again, the way callers would. The compiled code and the type feedback stay with the
// thread's functions, which the real Owner shares; nothing of the rehearsal touches the cache's
// memory, its counters, its budget or its events.
import { serialize } from 'node:v8'
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { EpochWriter, INITIAL_CLOCK } from '../shared/memory/epoch.js'
import { Memory } from '../shared/memory/layout.js'
import { Shared } from '../shared/memory/shared.js'
import { each, Outbox } from '../shared/outbox.js'
import type { OwnerData, OwnerMessage, RequesterMessage } from '../shared/protocol.js'
import { Owner } from './owner.js'

/** Keys per wave, requesters per key, and waves: enough calls for each step to be compiled and its caches filled. */
const KEYS = 32
const REQUESTERS = 3
const WAVES = 4

/** Runs the rehearsal; resolves when every request has been answered and the private owner is closed. */
export async function rehearse(data: OwnerData): Promise<void> {
  const memory = Memory.create(1, `${data.id}/rehearsal`, '', false)
  const epochs = EpochWriter.start(memory, serialize(0), { clock: INITIAL_CLOCK, origin: '', born: Date.now() })
  const owner = new Owner({ ...data, shared: memory.buffer, index: 0, memoryLimit: 1 << 20, computeTimeout: 0, replicas: 1, agent: undefined }, new Shared(memory, epochs))
  const links = Array.from({ length: REQUESTERS }, () => new MessageChannel())
  let timer: NodeJS.Timeout | undefined
  try {
    for (const { port1 } of links) owner.attach(port1)
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("an owner's rehearsal was not answered within 10 s")), 10_000)
    })
    await Promise.race([play(links.map(({ port2 }) => new Requester(port2))), late])
  } finally {
    clearTimeout(timer)
    owner.close()
    for (const { port1, port2 } of links) {
      port1.close()
      port2.close()
    }
    // The owner follows the epoch until it moves: one step frees it.
    epochs.publish(serialize(1), { clock: INITIAL_CLOCK + 1, origin: '', born: Date.now() }, 2)
  }
}

async function play(requesters: readonly Requester[]): Promise<void> {
  for (let wave = 0; wave < WAVES; wave++) {
    const keys = Array.from({ length: KEYS }, (_, i) => `rehearsal:${wave}:${i}`)
    // Every requester asks for every key at once: one computes each, the others wait on it.
    await Promise.all(requesters.flatMap((requester) => keys.map((key) => requester.get(key))))
    // Then each asks again, and is answered from the store.
    await Promise.all(requesters.flatMap((requester) => keys.map((key) => requester.get(key))))
  }
}

/** A requester as a caller thread is one, reduced to what the rehearsal asks: get, and put what it is told to compute. */
class Requester {
  readonly #outbox: Outbox<RequesterMessage>
  readonly #waiting = new Map<number, () => void>()
  #id = 0

  constructor(port: MessagePort) {
    this.#outbox = new Outbox(port)
    port.on('message', (received: OwnerMessage | OwnerMessage[]) => each(received, (message) => this.#receive(message)))
  }

  get(key: string): Promise<void> {
    const id = ++this.#id
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve)
      this.#outbox.post({ type: 'get', id, key })
    })
  }

  #receive(message: OwnerMessage): void {
    if (message.type === 'compute') {
      // As a caller puts a small plain value: as itself, the common fields left out (PutMessage).
      this.#outbox.post({ type: 'put', id: message.id, key: message.key, token: message.token, epoch: message.epoch, value: { key: message.key, at: message.id } })
    }
    // The computer's call ends with its put, as a caller's does; every other with its answer.
    if (message.type === 'pong' || message.type === 'copy') return
    this.#waiting.get(message.id)?.()
    this.#waiting.delete(message.id)
  }
}
