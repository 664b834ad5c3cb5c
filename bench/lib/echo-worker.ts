// A worker that answers every message on the ports it is given, and does nothing else: the
// bare postMessage round trip that a cross-thread hit is compared with, and replies shaped
// like an owner's, to see what the shape of a reply costs apart from coop-cache's own work.
//
//   mode 'echo':  sends each message back as it came ({ type: 'get', id, key }).
//   mode 'clone': answers as an owner answers a hit on a small value (src/owner/requester.ts,
//                 values up to 16 KiB serialized): { type: 'value', id, key, epoch, value, how,
//                 fence } with `value` the value itself, cloned by postMessage.
//   mode 'bytes': the same with `bytes`, the value's v8-serialized bytes, in place of `value`
//                 (how an owner answers for values over 16 KiB); the asker deserializes them.

import { parentPort, type MessagePort } from 'node:worker_threads'
import { serialize } from 'node:v8'

export type EchoMode = 'echo' | 'clone' | 'bytes'

export interface EchoSetup {
  readonly port: MessagePort
  readonly mode: EchoMode
  /** the value an answer in mode 'clone' or 'bytes' carries */
  readonly value?: unknown
}

if (parentPort !== null) {
  parentPort.on('message', ({ port, mode, value }: EchoSetup) => {
    const bytes = serialize(value)
    // stored and a hit (src/shared/answer-bits.ts), and a key's fence
    const how = 3
    const fence = { slot: 0, gen: 0, prefixes: 0 }
    if (mode === 'echo') {
      port.on('message', (message: unknown) => port.postMessage(message))
    } else if (mode === 'clone') {
      port.on('message', (message: { id: number; key: string }) =>
        port.postMessage({ type: 'value', id: message.id, key: message.key, epoch: 1, value, how, fence }),
      )
    } else {
      port.on('message', (message: { id: number; key: string }) =>
        port.postMessage({ type: 'value', id: message.id, key: message.key, epoch: 1, bytes, how, fence }),
      )
    }
  })
  parentPort.postMessage({ ready: true })
}
