// What an unsigned bus envelope holds, for tests that watch a bus: one message, or the several a
// sender gathered over one turn of its event loop.
import { deserialize } from 'node:v8'
import { unchecked } from '../../src/peer/seal.js'

/** A message as it travels: its type, sender, and whatever else its type has. */
export type Enveloped = Record<string, unknown> & { readonly t: string; readonly f: string; readonly pt?: number; readonly m?: boolean }

/** The messages of envelope `bytes`, read unchecked; none when it is not one. */
export function messagesOf(bytes: Uint8Array): Enveloped[] {
  const payload = unchecked(bytes)
  if (payload === undefined) return []
  const read: unknown = deserialize(payload)
  return (Array.isArray(read) ? read : [read]) as Enveloped[]
}
