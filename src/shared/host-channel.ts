// How a thread that attached to a cache has it reset, or has a change of keys carried to the
// peers: by asking the thread that created the cache (the one writer of the epoch,
// host/resets.ts, and the holder of the peer agent), over a BroadcastChannel named after the
// cache, and waiting for the answer on a channel of its own. A thread terminated while it waits
// leaves nothing behind: the request is carried out all the same, and its answer goes nowhere.
import { BroadcastChannel } from 'node:worker_threads'
import { randomUUID } from 'node:crypto'
import { CacheClosedError, fromWire, toWire } from './errors.js'
import type { ChangeRequestMessage, KeyChange, ResetReplyMessage, ResetRequestMessage } from './protocol.js'

const requests = (id: string) => `coop-cache/${id}/resets`
const replies = (id: string) => `coop-cache/${id}/reset-reply/`

/** What the creating thread carries out for the others. */
export interface HostRequests {
  reset(version: Uint8Array): Promise<void>
  change(change: KeyChange): Promise<void>
}

/** The creating thread: carries out every request. Returns a function that stops listening. */
export function serveHost(id: string, host: HostRequests): () => void {
  const channel = new BroadcastChannel(requests(id))
  channel.unref()
  channel.onmessage = (event) => {
    const message = (event as MessageEvent).data as Partial<ResetRequestMessage | ChangeRequestMessage> | null
    if (typeof message?.reply !== 'string' || !message.reply.startsWith(replies(id))) return
    let work: Promise<void>
    if (message.type === 'reset' && message.version instanceof Uint8Array) work = host.reset(message.version)
    else if (message.type === 'change' && typeof message.change === 'object' && message.change !== null) work = host.change(message.change)
    else return
    const answer = (reply: ResetReplyMessage) => {
      const back = new BroadcastChannel(message.reply as string)
      back.postMessage(reply)
      back.close()
    }
    work.then(
      () => answer({ type: 'reset-done' }),
      (error: unknown) => answer({ type: 'reset-done', error: toWire(error) }),
    )
  }
  return () => channel.close()
}

/** Another thread: asks for a reset to `version`; rejects with CacheClosedError if the cache closes first. */
export function askReset(id: string, version: Uint8Array, closed: () => boolean): Promise<void> {
  return ask(id, (reply) => ({ type: 'reset', version, reply }), closed)
}

/** Another thread: asks for `change` to be carried to the peers. */
export function askChange(id: string, change: KeyChange, closed: () => boolean): Promise<void> {
  return ask(id, (reply) => ({ type: 'change', change, reply }), closed)
}

function ask(id: string, request: (reply: string) => ResetRequestMessage | ChangeRequestMessage, closed: () => boolean): Promise<void> {
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
    const out = new BroadcastChannel(requests(id))
    out.postMessage(request(name))
    out.close()
  })
}
