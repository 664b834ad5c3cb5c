// Keys that one process owns, picked the way every process of a cluster hashes them, so that a
// scenario can ask for a value that must come from that process (scenarios 7 and 8).

// Not public API: the hashing the owners use (src/shared/ring.ts) and the key encoding it hashes.
import { encodeKey } from '../../src/shared/key.js'
import { peerOf } from '../../src/shared/ring.js'

/** The first `count` keys `<prefix>:<i>` that `owner` owns among `members`. */
export function keysOwnedBy(owner: string, members: readonly string[], count: number, prefix = 'k'): string[] {
  const keys: string[] = []
  for (let i = 0; keys.length < count; i++) {
    const key = `${prefix}:${i}`
    if (peerOf(encodeKey(key), members) === owner) keys.push(key)
  }
  return keys
}
