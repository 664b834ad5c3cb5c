// The owners' events (store, reject, evict) happen in the owners' threads, where nobody can
// subscribe. While the thread that created the cache has subscribers to any of them, it says so
// in shared memory (Int.Events, looked at every SUBSCRIBERS_EVERY ms: diagnostics_channel
// has no event for a subscription); owners then post each event on a BroadcastChannel named
// after the cache, and the creating thread publishes it on its channel. Events of the moments
// before it noticed a subscriber are not sent; nothing at all is, while there is none.
import { BroadcastChannel } from 'node:worker_threads'
import { showKey } from '../shared/key.js'
import { Int, type Memory } from '../shared/memory/layout.js'
import { events } from './channels.js'

const SUBSCRIBERS_EVERY = 100
const channelName = (id: string) => `coop-cache/${id}/events`

/** An owner's event, as it crosses to the creating thread. */
interface Forwarded {
  readonly kind: 'store' | 'reject' | 'evict'
  readonly key: string
  readonly bytes: number
}

const owned = () => events.store.hasSubscribers || events.reject.hasSubscribers || events.evict.hasSubscribers

/** The creating thread: follows its subscribers, and publishes what the owners send. Returns a function that stops. */
export function relayOwnerEvents(memory: Memory, cacheName: string): () => void {
  const channel = new BroadcastChannel(channelName(memory.cacheId))
  channel.unref()
  channel.onmessage = (event) => {
    const message = (event as MessageEvent).data as Partial<Forwarded> | null
    if (typeof message?.key !== 'string' || typeof message.bytes !== 'number') return
    const target = message.kind === 'store' ? events.store : message.kind === 'reject' ? events.reject : message.kind === 'evict' ? events.evict : undefined
    if (target?.hasSubscribers === true) target.publish({ cache: cacheName, key: showKey(message.key), bytes: message.bytes })
  }
  const look = () => Atomics.store(memory.ints, Int.Events, owned() ? 1 : 0)
  look()
  const timer = setInterval(look, SUBSCRIBERS_EVERY)
  timer.unref()
  return () => {
    clearInterval(timer)
    Atomics.store(memory.ints, Int.Events, 0)
    channel.close()
  }
}

/** An owner thread: sends its events while the creating thread listens. */
export class OwnerEvents {
  readonly #ints: Int32Array
  readonly #name: string
  #channel: BroadcastChannel | undefined

  constructor(memory: Memory) {
    this.#ints = memory.ints
    this.#name = channelName(memory.cacheId)
  }

  send(kind: Forwarded['kind'], key: string, bytes: number): void {
    if (Atomics.load(this.#ints, Int.Events) !== 1) return
    if (this.#channel === undefined) {
      this.#channel = new BroadcastChannel(this.#name)
      this.#channel.unref()
    }
    const message: Forwarded = { kind, key, bytes }
    this.#channel.postMessage(message)
  }

  close(): void {
    this.#channel?.close()
  }
}
