// The cache's events, on node:diagnostics_channel: what operators subscribe to, and what the
// OpenTelemetry adapter (coop-cache/otel) turns into metrics. Every channel is named
// `coop-cache:<event>`, and every message names its cache (`cache`) and, where there is one, its
// key as the cache shows keys in errors (`["page",42]`).
//
// Channels are per thread. Each event is published in the thread where it is known:
//   hit, miss, compute:start, compute:end    the thread that made the call
//   store, reject, evict                     the thread that created the cache (forwarded from
//                                            the owners' threads while it has subscribers)
//   reset, invalidate, set, peer:join,       the thread that created the cache
//   peer:leave, dropped
// Nothing is built or sent for a channel without subscribers: a hit pays one check.
import { channel, type Channel } from 'node:diagnostics_channel'
import { showKey } from '../shared/key.js'
import type { KeyChange } from '../shared/protocol.js'

/** `coop-cache:hit`: a call got a stored value (outcome 'hit', 'near', 'stale', or 'remote' when stored there). */
export interface HitEvent {
  readonly cache: string
  readonly key: string
  readonly outcome: 'hit' | 'near' | 'stale' | 'remote'
}

/** `coop-cache:miss`: a call's value was computed for it, here or elsewhere (outcome 'computed', 'coalesced' or 'remote'). */
export interface MissEvent {
  readonly cache: string
  readonly key: string
  readonly outcome: 'computed' | 'coalesced' | 'remote'
}

/** `coop-cache:compute:start`: this thread runs `fn` for a key. */
export interface ComputeStartEvent {
  readonly cache: string
  readonly key: string
}

/**
 * `coop-cache:compute:end`: `fn` ended after `duration` ms: with a value (`ok`), by throwing
 * (`error`, with it), or fenced (a reset, invalidation or set made its result not count).
 */
export interface ComputeEndEvent {
  readonly cache: string
  readonly key: string
  readonly duration: number
  readonly outcome: 'ok' | 'error' | 'fenced'
  readonly error?: unknown
}

/** `coop-cache:store`, `coop-cache:reject`, `coop-cache:evict`: an entry of `bytes` was stored, left out for want of room, or evicted to make room. */
export interface EntryEvent {
  readonly cache: string
  readonly key: string
  readonly bytes: number
}

/** `coop-cache:reset`: the cache moved to `version`, by this process's reset (`own`) or a peer's. */
export interface ResetEvent {
  readonly cache: string
  readonly version: unknown
  readonly own: boolean
}

/** `coop-cache:invalidate` and `coop-cache:set`: a key (or, with `prefix`, keys) changed by this process (`own`) or a peer. */
export interface KeyChangeEvent {
  readonly cache: string
  readonly key: string
  readonly prefix: boolean
  readonly own: boolean
}

/** `coop-cache:peer:join`, `coop-cache:peer:leave`: a peer became a member, or stopped being one. */
export interface PeerEvent {
  readonly cache: string
  readonly peer: string
}

/** `coop-cache:dropped`: a message was refused (malformed, unsigned, replayed, for another reset, about another key). */
export interface DroppedEvent {
  readonly cache: string
}

/** Every channel's name, by event. */
export const CHANNELS = {
  hit: 'coop-cache:hit',
  miss: 'coop-cache:miss',
  computeStart: 'coop-cache:compute:start',
  computeEnd: 'coop-cache:compute:end',
  store: 'coop-cache:store',
  reject: 'coop-cache:reject',
  evict: 'coop-cache:evict',
  reset: 'coop-cache:reset',
  invalidate: 'coop-cache:invalidate',
  set: 'coop-cache:set',
  peerJoin: 'coop-cache:peer:join',
  peerLeave: 'coop-cache:peer:leave',
  dropped: 'coop-cache:dropped',
} as const

/** The channels, each typed by what it carries (internal: publishers check `hasSubscribers` first). */
export const events = {
  hit: channel(CHANNELS.hit) as Typed<HitEvent>,
  miss: channel(CHANNELS.miss) as Typed<MissEvent>,
  computeStart: channel(CHANNELS.computeStart) as Typed<ComputeStartEvent>,
  computeEnd: channel(CHANNELS.computeEnd) as Typed<ComputeEndEvent>,
  store: channel(CHANNELS.store) as Typed<EntryEvent>,
  reject: channel(CHANNELS.reject) as Typed<EntryEvent>,
  evict: channel(CHANNELS.evict) as Typed<EntryEvent>,
  reset: channel(CHANNELS.reset) as Typed<ResetEvent>,
  invalidate: channel(CHANNELS.invalidate) as Typed<KeyChangeEvent>,
  set: channel(CHANNELS.set) as Typed<KeyChangeEvent>,
  peerJoin: channel(CHANNELS.peerJoin) as Typed<PeerEvent>,
  peerLeave: channel(CHANNELS.peerLeave) as Typed<PeerEvent>,
  dropped: channel(CHANNELS.dropped) as Typed<DroppedEvent>,
}

interface Typed<M> extends Omit<Channel, 'publish'> {
  publish(message: M): void
}

/** An invalidation or a set, on its channel: this process's (`own`) or a peer's. */
export function announce(cache: string, change: KeyChange, own: boolean): void {
  const target = change.type === 'invalidate' ? events.invalidate : events.set
  if (target.hasSubscribers) target.publish({ cache, key: showKey(change.key), prefix: change.type === 'invalidate' && change.prefix, own })
}
