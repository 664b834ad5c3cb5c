// How any thread of the process gets a MessagePort to an owner.
//
// A handle must reach threads we did not start (a piscina pool's workers, started later, all
// sharing one workerData), so it cannot carry ports: a port goes to one thread only. The only
// named, process-wide channel Node 20 has between arbitrary threads is BroadcastChannel, and
// it has no transfer list in its public API. But a BroadcastChannel with exactly two members
// is a pair of entangled ports underneath, and Node's messaging core transfers ports between
// two members (it refuses only with more). So: the caller makes a channel under a fresh name,
// asks the owner (on the owner's well-known channel) to join it, and the owner sends a fresh
// port over that two-member channel. After that, the link is a plain MessagePort: as fast as
// postMessage gets, and its 'close' event tells the owner when the caller's thread dies —
// which is how a dead computer is noticed at once rather than after a timeout.
//
// Node's public worker_threads.postMessageToThread goes through the main thread, which may be
// busy (docs/decisions.md); we reach the channel's port through its internal handle instead. If
// a Node version hides it, createCache fails at once (assertPortHandoff).

import { BroadcastChannel, MessageChannel, type MessagePort } from 'node:worker_threads'
import { randomUUID } from 'node:crypto'
import { CacheError } from './errors.js'
import type { ConnectMessage, WelcomeMessage } from './protocol.js'

interface RawPort {
  postMessage(message: unknown, transfer?: readonly unknown[]): unknown
}

function rawPort(channel: BroadcastChannel): RawPort {
  const handle = Object.getOwnPropertySymbols(channel).find((symbol) => symbol.description === 'kHandle')
  const port = handle === undefined ? undefined : (channel as unknown as Record<symbol, RawPort | undefined>)[handle]
  if (typeof port?.postMessage !== 'function') {
    throw new Error(`coop-cache cannot hand a port to this thread on Node ${process.version}: BroadcastChannel has no port handle here`)
  }
  return port
}

/**
 * Throws unless this Node lets an owner hand a port over a BroadcastChannel: checked when a cache
 * is created, so that a Node version which hides the handle fails there, with a reason, rather
 * than leaving every caller waiting for a link that cannot be made.
 */
export function assertPortHandoff(): void {
  const probe = new BroadcastChannel(`coop-cache/probe/${randomUUID()}`)
  try {
    rawPort(probe)
  } catch (cause) {
    throw new CacheError('ERR_COOP_CACHE_UNSUPPORTED_NODE', `${(cause as Error).message}; coop-cache supports Node 20, 22 and 24`, { cause })
  } finally {
    probe.close()
  }
}

/** The name of owner `index`'s connect channel, for the cache `id`. */
export function connectChannelName(id: string, index: number): string {
  return `coop-cache/${id}/owner/${index}`
}

/**
 * Owner side: answers connect requests on the owner's channel, giving each caller a new
 * port; `accept` receives the owner's end. Returns a function that stops listening.
 */
export function listenForCallers(id: string, index: number, accept: (port: MessagePort) => void): () => void {
  const channel = new BroadcastChannel(connectChannelName(id, index))
  channel.onmessage = (event) => {
    const message = (event as MessageEvent).data as Partial<ConnectMessage> | null
    if (message?.type !== 'connect' || typeof message.pair !== 'string' || !message.pair.startsWith(`coop-cache/${id}/pair/`)) return
    const pair = new BroadcastChannel(message.pair)
    const { port1, port2 } = new MessageChannel()
    try {
      const welcome: WelcomeMessage = { type: 'welcome', port: port2 }
      rawPort(pair).postMessage(welcome, [port2])
      accept(port1)
    } catch {
      port1.close() // the caller left before we answered: nothing to link
    } finally {
      pair.close()
    }
  }
  return () => channel.close()
}

/**
 * Caller side: asks owner `index` for a link. Resolves with the port, or with undefined when no
 * owner answered within `ms` or `stop()` became true first, looked at every `poll` ms (an owner
 * may have died just after it was asked; the caller asks its next instance).
 */
export function connectToOwner(id: string, index: number, ms: number, stop: () => boolean, poll = 20): Promise<MessagePort | undefined> {
  const name = `coop-cache/${id}/pair/${randomUUID()}`
  const pair = new BroadcastChannel(name)
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(undefined), ms)
    const watch = setInterval(() => {
      if (stop()) finish(undefined)
    }, poll)
    let finished = false
    // Two instances of an owner can both answer (one dying as the other starts), and an answer
    // can come after the wait is over: a port that is not the one taken is closed, not left open
    // to hold the thread.
    function finish(port: MessagePort | undefined) {
      if (finished) return port?.close()
      finished = true
      clearTimeout(timer)
      clearInterval(watch)
      pair.close()
      resolve(port)
    }
    pair.onmessage = (event) => {
      const message = (event as MessageEvent).data as Partial<WelcomeMessage> | null
      if (message?.type === 'welcome') finish(message.port as MessagePort)
    }
    const ask = new BroadcastChannel(connectChannelName(id, index))
    const connect: ConnectMessage = { type: 'connect', pair: name }
    ask.postMessage(connect)
    ask.close()
  })
}
