// Which process of the cluster owns a key: rendezvous (highest random weight) hashing over the
// live members. Every process that knows the same members picks the same owner, with no
// coordination; when a member leaves, only its keys move, and a member that joins takes
// about 1/n of the keys from the others.
import { fnv1a } from './key.js'
import type { Owned } from './protocol.js'

// FNV-1a alone mixes its last characters poorly; a murmur3 finalizer spreads them.
function mix(hash: number): number {
  hash ^= hash >>> 16
  hash = Math.imul(hash, 0x85ebca6b)
  hash ^= hash >>> 13
  hash = Math.imul(hash, 0xc2b2ae35)
  hash ^= hash >>> 16
  return hash >>> 0
}

const scoreOf = (key: string, member: string) => mix(fnv1a(key, fnv1a(member)))

/** The member that owns `key` (an encoded key); `members` must not be empty. */
export function peerOf(key: string, members: readonly string[]): string {
  let best = members[0] as string
  let bestScore = -1
  for (const member of members) {
    const score = scoreOf(key, member)
    if (score > bestScore || (score === bestScore && member > best)) {
      best = member
      bestScore = score
    }
  }
  return best
}

/** Whether an (encoded) key, its value `fetched` from a peer or not, is one of those `owned` selects. */
export function selects({ owner, members, from }: Owned): (key: string, fetched: boolean) => boolean {
  if (from === undefined) return (key) => peerOf(key, members) === owner
  const before = members.filter((member) => member !== owner)
  if (before.length === 0) return () => false
  return (key, fetched) => peerOf(key, members) === owner && (!fetched || peerOf(key, before) === from)
}

/**
 * The `n` members that rank first for `key`, its owner first: those that keep its value with
 * replicas n. When a member leaves, the next in rank owns the key, and already holds it.
 */
export function ranked(key: string, members: readonly string[], n: number): string[] {
  return members
    .map((member) => ({ member, score: scoreOf(key, member) }))
    .sort((a, b) => b.score - a.score || (a.member < b.member ? 1 : -1))
    .slice(0, n)
    .map(({ member }) => member)
}

/**
 * The members that keep copies of `key`'s values with `replicas` (CacheOptions.replicas, 'all'
 * as Infinity): 'all' of them, or those that rank first for it; none with fewer than two members.
 */
export function keepersOf(key: string, members: readonly string[], replicas: number): readonly string[] | 'all' {
  if (replicas <= 1 || members.length < 2) return []
  if (replicas >= members.length) return 'all'
  return ranked(key, members, replicas)
}
