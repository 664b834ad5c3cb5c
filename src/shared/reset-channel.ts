// How a thread that attached to a cache has it reset: by asking the thread that created the
// cache, the one writer of the epoch (host/resets.ts), over a BroadcastChannel named after the
// cache, and waiting for the answer on a channel of its own. A thread terminated while it waits
// leaves nothing behind: the reset is carried out all the same, and its answer goes nowhere.
import { BroadcastChannel } from 'node:worker_threads'
import { randomUUID } from 'node:crypto'
import { CacheClosedError, fromWire, toWire } from './errors.js'
import type { ResetReplyMessage, ResetRequestMessage } from './protocol.js'

const requests = (id: string) => `coop-cache/${id}/resets`
const replies = (id: string) => `coop-cache/${id}/reset-reply/`

/** The creating thread: carries out every reset asked for. Returns a function that stops listening. */
export function serveResets(id: string, reset: (version: Uint8Array) => Promise<void>): () => void {
  const channel = new BroadcastChannel(requests(id))
  channel.unref()
  channel.onmessage = (event) => {
    const message = (event as MessageEvent).data as Partial<ResetRequestMessage> | null
    if (message?.type !== 'reset' || !(message.version instanceof Uint8Array) || typeof message.reply !== 'string' || !message.reply.startsWith(replies(id))) return
    const answer = (reply: ResetReplyMessage) => {
      const back = new BroadcastChannel(message.reply as string)
      back.postMessage(reply)
      back.close()
    }
    reset(message.version).then(
      () => answer({ type: 'reset-done' }),
      (error: unknown) => answer({ type: 'reset-done', error: toWire(error) }),
    )
  }
  return () => channel.close()
}

/** Another thread: asks for a reset to `version`; rejects with CacheClosedError if the cache closes first. */
export function askReset(id: string, version: Uint8Array, closed: () => boolean): Promise<void> {
  const name = replies(id) + randomUUID()
  const channel = new BroadcastChannel(name)
  return new Promise<void>((resolve, reject) => {
    const watch = setInterval(() => {
      if (closed()) finish(new CacheClosedError())
    }, 100)
    function finish(error?: unknown) {
      clearInterval(watch)
      channel.close()
      if (error === undefined) resolve()
      else reject(error)
    }
    channel.onmessage = (event) => {
      const reply = (event as MessageEvent).data as Partial<ResetReplyMessage> | null
      if (reply?.type === 'reset-done') finish(reply.error === undefined ? undefined : fromWire(reply.error))
    }
    const ask = new BroadcastChannel(requests(id))
    const request: ResetRequestMessage = { type: 'reset', version, reply: name }
    ask.postMessage(request)
    ask.close()
  })
}
