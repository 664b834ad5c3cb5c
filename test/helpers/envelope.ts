// What an unsigned bus envelope holds, for tests that watch a bus: one message, or the several a
// sender gathered over one turn of its event loop.
import { deserialize } from 'node:v8'
import { Seal } from '../../src/peer/seal.js'

/** A message as it travels: its type, sender, and whatever else its type has. */
export type Enveloped = Record<string, unknown> & { readonly t: string; readonly f: string; readonly pt?: number; readonly m?: boolean }

// Unsigned envelopes open under any topic.
const opener = new Seal('', [])

/** The messages of unsigned envelope `bytes`; none when it does not open. */
export function messagesOf(bytes: Uint8Array): Enveloped[] {
  const payload = opener.open(bytes)
  if (typeof payload === 'string') return []
  const read: unknown = deserialize(payload)
  return (Array.isArray(read) ? read : [read]) as Enveloped[]
}
