// fast-check arbitraries for what a hostile or broken member can put on a cache's bus: every
// field of every message of src/peer/wire.ts, in three kinds —
//
//   good   what a real peer could send (so a lie, when the rest of the message is a lie too)
//   edge   in range, at its limits (0, 2^31-1, MAX_SAFE_INTEGER, a clock at CLOCK_MAX...): decode()
//          must take it, and nothing downstream may throw or wedge on it
//   bad    out of range or of the wrong type (NaN, 0.5, -1, strings for numbers, huge or empty
//          strings, bytes that do not deserialize...): decode() must refuse it
//
// and envelopes around them: sealed with no key, a wrong key or the right one, garbage bytes,
// truncated, bit-flipped, of an unknown wire version, a captured envelope replayed as it was, or
// a captured message changed and sealed again.
//
// What a rogue can only know at run time (the peers' ids, their stamps, the requests they make,
// the tokens and values they send) is drawn as a Pick: a place in what was heard, resolved when
// the message is sent (`materialize`), so that the plans themselves are plain data that
// fast-check can print, shrink and replay from a seed.
import fc from 'fast-check'
import { randomUUID } from 'node:crypto'
import { serialize } from 'node:v8'
import { Seal, WIRE_VERSION } from '../../src/peer/seal.js'
import { CHUNKS_MAX, HOST_MAX, RENEW_MAX, RENEWED_UNKNOWN, RENEWED_WAITING } from '../../src/peer/wire.js'
import { CLOCK_MAX } from '../../src/shared/memory/epoch.js'
import { PEER_COUNTERS, PEER_MAX, VERSION_MAX } from '../../src/shared/memory/layout.js'
import type { Heard } from './rogue.js'

/** Every message type of wire.ts. */
export const TYPES = ['beat', 'hello', 'bye', 'reset', 'ack', 'give', 'gave', 'taken', 'get', 'put', 'fail', 'drop', 'value', 'compute', 'abort', 'error', 'none', 'wait', 'inv', 'set', 'applied', 'rep', 'fill', 'chunk', 'chunked', 'renew', 'renewed'] as const
export type MessageType = (typeof TYPES)[number]

/** Each type's fields beyond the base (c, f, q, ts, to, t), as wire.ts has them. */
export const FIELDS: Record<MessageType, readonly string[]> = {
  beat: ['s', 'v', 'n', 'host', 'pid', 'hb', 'pto'],
  hello: ['hb', 'pto'],
  bye: [],
  reset: ['s', 'v'],
  ack: ['s'],
  give: ['s', 'k', 'v', 'tl', 'gr'],
  gave: ['m', 'pt'],
  taken: ['pt'],
  get: ['s', 'o', 'i', 'r', 'k', 'p', 'rf'],
  put: ['s', 'o', 'i', 'r', 'k', 'tk', 'v', 'ns', 'tl', 'gr'],
  fail: ['s', 'o', 'i', 'r', 'k', 'tk', 'e'],
  drop: ['s', 'o', 'i', 'r', 'k'],
  value: ['s', 'o', 'i', 'r', 'k', 'v', 'h', 'tl', 'gr', 'st'],
  compute: ['s', 'o', 'i', 'r', 'k', 'tk'],
  abort: ['s', 'o', 'i', 'r', 'k', 'tk', 'fe'],
  error: ['s', 'o', 'i', 'r', 'k', 'e'],
  none: ['s', 'o', 'i', 'r', 'k'],
  wait: ['s', 'o', 'i', 'r', 'k'],
  inv: ['ci', 'k', 'p', 'a'],
  set: ['ci', 's', 'k', 'v', 'tl', 'gr', 'a'],
  applied: ['ci'],
  rep: ['s', 'k', 'v', 'tl', 'gr'],
  fill: [],
  chunk: ['g', 'x', 'of', 'b'],
  chunked: ['g', 'got', 'nx'],
  renew: ['s', 'o', 'i', 'rs'],
  renewed: ['s', 'o', 'i', 'rs', 'tks'],
}
const BASE = ['c', 'f', 'q', 'ts', 'to'] as const
const ABOUT = new Set(['s', 'o', 'i', 'r', 'k'])

/** What every forged value and version says about itself: a caller that gets one got a lie. */
export const ROGUE = 'ROGUE'

// ---- what is only known at run time ----

/**
 * A place in what the rogue knows when it sends: the `n`-th (modulo how many there are) of the
 * values of field `field` in the messages of type `of` heard so far, or a peer's id, a key of
 * the workload, the cache's name... `or` stands in when nothing of the kind was heard yet.
 */
export class Pick {
  constructor(
    readonly what: 'name' | 'self' | 'next' | 'peer' | 'key' | 'now' | 'heard',
    readonly n = 0,
    readonly field = '',
    readonly of = '',
    readonly or: unknown = undefined,
  ) {}

  toString(): string {
    return this.what === 'heard' ? `Pick(${this.of || 'any'}.${this.field}#${this.n})` : `Pick(${this.what}#${this.n})`
  }
}

/** What a rogue knows when it sends a message. */
export interface World {
  /** the cache's name (its topic) */
  readonly name: string
  /** the rogue's own id */
  readonly self: string
  /** the real peers' ids now */
  peers(): readonly string[]
  /** the canonical encodings of the workload's keys */
  readonly keys: readonly string[]
  /** messages heard so far (payloads, deserialized): Rogue.heard */
  heard(): readonly Heard[]
  /** envelopes captured on the bus, as they were */
  captured(): readonly Uint8Array[]
  /** the rogue's next sequence number */
  next(): number
  /** the keys the rogue seals with: `own` is its own (none, or keys the cluster does not have); `right` the cluster's, if it has them */
  readonly secrets: { readonly own: readonly Uint8Array[]; readonly right?: readonly Uint8Array[] }
}

const at = <T>(list: readonly T[], n: number): T | undefined => (list.length === 0 ? undefined : list[n % list.length])

/** `value` with every Pick in it replaced by what it names in `world`. */
export function resolve(value: unknown, world: World): unknown {
  if (value instanceof Pick) {
    switch (value.what) {
      case 'name':
        return world.name
      case 'self':
        return world.self
      case 'next':
        return world.next()
      case 'peer':
        return at(world.peers(), value.n) ?? value.or
      case 'key':
        return at(world.keys, value.n) ?? value.or
      case 'now':
        return Date.now() + value.n
      case 'heard': {
        const found = world.heard().filter((m) => (value.of === '' || m.t === value.of) && value.field in m)
        const message = at(found, value.n)
        return message === undefined ? value.or : message[value.field]
      }
    }
  }
  if (Array.isArray(value)) return value.map((x) => resolve(x, world))
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, world)]))
  }
  return value
}

// ---- numbers ----

const strange = [NaN, Infinity, -Infinity, 0.5, -1, -0.5, 1e-300, Number.MAX_SAFE_INTEGER + 1, 2 ** 64, Number.MAX_VALUE]
const wrongTypes = ['1', '', null, undefined, true, [], {}, 1n, new Uint8Array(1), new Date(0)]
/** a count that decode takes: small, or at the limits */
const count = { good: fc.integer({ min: 0, max: 10_000 }), edge: fc.constantFrom(0, 2 ** 31 - 1, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER) }
const notCount = fc.constantFrom<unknown>(...strange, ...wrongTypes)
const notPositive = fc.constantFrom<unknown>(0, ...strange, ...wrongTypes)

// ---- strings ----

/** a string longer than the longest a field may hold; built at once, not char by char */
const long = (least: number) => fc.integer({ min: least, max: least * 2 }).map((n) => 'x'.repeat(n))
const notString = fc.constantFrom<unknown>(0, 1, NaN, null, undefined, true, [], {}, new Uint8Array(2), 1n)
/** a string that is surely not one a workload value could be mistaken for */
const rogueText = fc.string({ maxLength: 40 }).map((s) => `${ROGUE}:${s}`)

// ---- values (v8.serialize bytes) ----

class Money {
  amount = 1
  currency = ROGUE
}
/** Plain data a forged value or version may be, every string in it marked ROGUE at the top. */
const rogueData: fc.Arbitrary<unknown> = fc.oneof(
  rogueText,
  fc.integer().map((n) => [ROGUE, n]),
  fc.record({ [ROGUE]: fc.anything({ maxDepth: 2, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }) }),
  fc.constantFrom<unknown>(
    new Money(), // a class instance: serialized as a plain object
    JSON.parse(`{"__proto__": {"polluted": "${ROGUE}"}, "constructor": {"name": "Evil"}}`),
    Object.assign(Object.create(null), { [ROGUE]: true }),
    new Error(ROGUE),
    new Map([[{ [ROGUE]: 1 }, new Set([ROGUE])]]),
    Buffer.from(ROGUE),
    new Uint8Array([82, 79, 71, 85, 69]),
    [ROGUE, new Date(NaN), /ROGUE/g, -0, 2n ** 70n],
    `${ROGUE}:${'x'.repeat(100_000)}`,
  ),
)
/** Bytes that v8.deserialize refuses, or reads to something no peer may take. */
const unreadable = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 64 }),
  fc.constantFrom(
    new Uint8Array(0),
    Uint8Array.of(0xff), // a header and nothing more
    Uint8Array.of(0xff, 0x0f, 0x5c, 0x01, 0xff, 0x00), // a host object with an unknown typed-array tag
    Uint8Array.of(0xff, 0x0f, 0x6f), // an object that never ends
    Uint8Array.of(0xff, 0x0f, 0x22, 0x80, 0x80, 0x80, 0x80, 0x08), // a string said to be 2 GiB long
    serialize({ [ROGUE]: 'x'.repeat(50) }).subarray(0, 20), // a good one, truncated
  ),
)
const valueBytes = {
  good: rogueData.map((x) => serialize(x) as Uint8Array),
  bad: fc.oneof(unreadable, notString.filter((x) => !(x instanceof Uint8Array))),
}

// ---- stamps and versions ----

const stampOf = (clock: unknown, origin: unknown, born: unknown) => ({ clock, origin, born })
const stamp = {
  good: fc.oneof(
    fc.constant(new Pick('heard', 0, 's', 'beat', stampOf(1, '', 0))),
    fc.nat().map((n) => new Pick('heard', n, 's', '', stampOf(1, '', 0))),
    fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.oneof(fc.constant(new Pick('self')), fc.nat().map((n) => new Pick('peer', n, '', '', ''))), fc.constantFrom(0, 1)).map(([c, o, b]) => stampOf(c, o, b)),
  ),
  edge: fc.oneof(
    fc.constantFrom(0, 1, 2, 2 ** 31 - 1, 2 ** 31, 2 ** 32, CLOCK_MAX - 1, CLOCK_MAX).map((clock) => stampOf(clock, ROGUE, 0)),
    fc.constantFrom(0, Number.MAX_SAFE_INTEGER).map((born) => stampOf(1, ROGUE, born)),
    fc.constantFrom('', 'z'.repeat(PEER_MAX)).map((origin) => stampOf(2, origin, 0)),
  ),
  bad: fc.oneof(
    fc.tuple(fc.constantFrom<unknown>(...strange, CLOCK_MAX + 1, Number.MAX_SAFE_INTEGER, ...wrongTypes), fc.constant(ROGUE), fc.constant(0)).map(([c, o, b]) => stampOf(c, o, b)),
    notCount.map((born) => stampOf(2, ROGUE, born)),
    fc.oneof(notString, long(PEER_MAX + 1)).map((origin) => stampOf(2, origin, 0)),
    fc.constantFrom<unknown>({ clock: 2, origin: ROGUE }, { clock: 2, origin: ROGUE, born: 0, extra: 1 }, [2, ROGUE, 0], new Date(2), null, 'stamp'),
  ),
}
const versionBytes = {
  good: fc.oneof(
    fc.nat().map((n) => new Pick('heard', n, 'v', 'beat', serialize(0))),
    fc.oneof(rogueText, fc.integer({ min: 1_000_000, max: 2_000_000 })).map((v) => serialize(v) as Uint8Array),
  ),
  edge: fc.constantFrom(serialize(`${ROGUE}:${'x'.repeat(VERSION_MAX - 20)}`).subarray(0), serialize(null), serialize(new Map([[ROGUE, new Date(0)]]))).filter((b) => b.length <= VERSION_MAX),
  bad: fc.oneof(unreadable, fc.constant(serialize('x'.repeat(VERSION_MAX + 1))), notString.filter((x) => !(x instanceof Uint8Array))),
}

// ---- errors, counters ----

const wireError = {
  good: fc.oneof(
    rogueData.map((value) => ({ value })),
    fc.record({ coop: fc.constantFrom('ERR_COOP_CACHE_COMPUTE_TIMEOUT', 'ERR_COOP_CACHE_CLOSED', 'ERR_COOP_CACHE_ROGUE'), message: rogueText }),
  ),
  edge: fc.constantFrom({ coop: 'ERR_COOP_CACHE_X', message: '' }, { coop: 'ERR_COOP_CACHE_NOT_CLONEABLE', message: ROGUE.repeat(2000), key: '' }, { value: undefined }),
  bad: fc.constantFrom<unknown>(
    {},
    { value: 1, extra: 2 },
    { coop: 'ERR_SOMETHING_ELSE', message: ROGUE },
    { coop: 'ERR_COOP_CACHE_lower', message: ROGUE },
    { coop: 'ERR_COOP_CACHE_X', message: 1 },
    { coop: 'ERR_COOP_CACHE_X', message: 'x'.repeat(10_001) },
    { coop: 'ERR_COOP_CACHE_X', message: ROGUE, key: 7 },
    new Error(ROGUE),
    null,
    ROGUE,
  ),
}
const counters = {
  good: fc.array(count.good, { minLength: PEER_COUNTERS, maxLength: PEER_COUNTERS }),
  edge: fc.constantFrom(Array(PEER_COUNTERS).fill(0), Array(PEER_COUNTERS).fill(Number.MAX_SAFE_INTEGER), Array(PEER_COUNTERS).fill(2 ** 31 - 1)),
  bad: fc.oneof(
    fc.tuple(fc.nat({ max: PEER_COUNTERS - 1 }), notCount).map(([i, x]) => Array.from({ length: PEER_COUNTERS }, (_, j) => (j === i ? x : 1))),
    fc.constantFrom<unknown>([], Array(PEER_COUNTERS - 1).fill(1), Array(PEER_COUNTERS + 1).fill(1), Array(PEER_COUNTERS).fill(1n), new Float64Array(PEER_COUNTERS), 'n', null),
  ),
}

/** The arbitraries of one field: what a peer could send, what sits at the limits, what must be refused. */
export interface FieldArbitraries {
  readonly good: fc.Arbitrary<unknown>
  readonly edge: fc.Arbitrary<unknown>
  readonly bad: fc.Arbitrary<unknown>
}

/** Per field name, as wire.ts names them (`v` is a version in beat and reset, a value in put and value). */
export const fields: Record<string, FieldArbitraries> = {
  c: { good: fc.constant(new Pick('name')), edge: fc.constant(new Pick('name')), bad: fc.oneof(fc.constantFrom<unknown>('', 'another-cache', ROGUE), notString, long(200)) },
  f: {
    good: fc.oneof(fc.constant(new Pick('self')), fc.nat().map((n) => new Pick('peer', n, '', '', ROGUE))),
    edge: fc.constantFrom('r', 'z'.repeat(PEER_MAX), 'é'.repeat(PEER_MAX / 2)),
    bad: fc.oneof(fc.constantFrom<unknown>('', 'é'.repeat(PEER_MAX / 2 + 1)), notString, long(PEER_MAX + 1)),
  },
  q: { good: fc.constant(new Pick('next')), edge: count.edge, bad: notCount },
  ts: {
    good: fc.integer({ min: -1000, max: 1000 }).map((ms) => new Pick('now', ms)),
    // stale and future clocks are in range for decode; the replay window judges them
    edge: fc.constantFrom(-3_600_000, -60_000, 60_000, 3_600_000).map((ms) => new Pick('now', ms)),
    bad: notCount,
  },
  to: {
    good: fc.oneof(fc.constant(''), fc.nat().map((n) => new Pick('peer', n, '', '', ''))),
    edge: fc.constant(''),
    // for another peer (broadcast, so that every peer sees it): decode refuses it where it does not belong
    bad: fc.oneof(notString, fc.constantFrom<unknown>(new Pick('self'), 'a-peer-that-is-not-here')),
  },
  s: stamp,
  n: counters,
  o: { good: fc.integer({ min: 0, max: 3 }), edge: fc.constantFrom(0, 255), bad: fc.constantFrom<unknown>(256, 2 ** 31, ...strange, ...wrongTypes) },
  i: {
    good: fc.oneof(fc.nat().map((n) => new Pick('heard', n, 'i', 'get', randomUUID())), fc.uuid()),
    edge: fc.constantFrom('i', 'x'.repeat(64)),
    bad: fc.oneof(fc.constantFrom<unknown>(''), notString, long(65)),
  },
  r: { good: fc.oneof(fc.nat().map((n) => new Pick('heard', n, 'r', 'get', 1)), fc.integer({ min: 1, max: 10_000 })), edge: fc.constantFrom(1, 2 ** 31 - 1, Number.MAX_SAFE_INTEGER), bad: notPositive },
  k: {
    good: fc.oneof(fc.nat().map((n) => new Pick('key', n)), fc.nat().map((n) => new Pick('heard', n, 'k', '', 'k0'))),
    edge: fc.constantFrom('', '\u0000z', '\u0000n1', '\u0000s\u0000', `${ROGUE}-key`),
    // longer than the campaign's memoryLimit (1 MiB): decode refuses a key it could never store
    bad: fc.oneof(notString, fc.constant('k'.repeat(1024 * 1024 + 1))),
  },
  p: { good: fc.boolean(), edge: fc.boolean(), bad: fc.constantFrom<unknown>(0, 1, 'true', null, undefined, []) },
  h: { good: fc.boolean(), edge: fc.boolean(), bad: fc.constantFrom<unknown>(0, 1, 'false', null, undefined, {}) },
  rf: { good: fc.boolean(), edge: fc.boolean(), bad: fc.constantFrom<unknown>(0, 1, 'true', null, undefined, []) },
  ns: { good: fc.boolean(), edge: fc.boolean(), bad: fc.constantFrom<unknown>(0, 1, 'true', null, undefined, []) },
  st: { good: fc.boolean(), edge: fc.boolean(), bad: fc.constantFrom<unknown>(0, 1, 'true', null, undefined, []) },
  a: { good: fc.boolean(), edge: fc.boolean(), bad: fc.constantFrom<unknown>(0, 1, 'true', null, undefined, []) },
  fe: { good: fc.boolean(), edge: fc.boolean(), bad: fc.constantFrom<unknown>(0, 1, 'true', null, undefined, []) },
  m: { good: fc.boolean(), edge: fc.boolean(), bad: fc.constantFrom<unknown>(0, 1, 'false', null, undefined, {}) },
  tl: { good: fc.integer({ min: 0, max: 86_400_000 }), edge: fc.constantFrom(0, Number.MAX_SAFE_INTEGER), bad: fc.constantFrom<unknown>(-1, 1.5, NaN, Infinity, '5', null, undefined) },
  gr: { good: fc.integer({ min: 0, max: 86_400_000 }), edge: fc.constantFrom(0, Number.MAX_SAFE_INTEGER), bad: fc.constantFrom<unknown>(-1, 1.5, NaN, Infinity, '5', null, undefined) },
  pt: { good: fc.oneof(fc.nat().map((n) => new Pick('heard', n, 'pt', 'gave', 1)), fc.integer({ min: 1, max: 10_000 })), edge: fc.constantFrom(1, Number.MAX_SAFE_INTEGER), bad: notPositive },
  ci: { good: fc.integer({ min: 1, max: 10_000 }), edge: fc.constantFrom(1, Number.MAX_SAFE_INTEGER), bad: fc.constantFrom<unknown>(0, -1, 1.5, NaN, '5', null, undefined) },
  tk: { good: fc.oneof(fc.nat().map((n) => new Pick('heard', n, 'tk', 'compute', 1)), fc.integer({ min: 1, max: 1000 })), edge: fc.constantFrom(1, 2 ** 31 - 1, Number.MAX_SAFE_INTEGER), bad: notPositive },
  e: wireError,
  host: {
    good: fc.constantFrom('localhost', 'web-1.example.internal', ROGUE),
    edge: fc.constantFrom('', 'h'.repeat(HOST_MAX), 'é'.repeat(Math.floor(HOST_MAX / 2))),
    bad: fc.oneof(notString, long(HOST_MAX + 1), fc.constant('é'.repeat(Math.floor(HOST_MAX / 2) + 1))),
  },
  pid: { good: fc.integer({ min: 1, max: 4_194_304 }), edge: fc.constantFrom(1, 2 ** 31 - 1, Number.MAX_SAFE_INTEGER), bad: notPositive },
  // a chunk of an envelope too large for the bus (wire.ts Chunk, Chunked): what is in range for decode; chunks.ts judges the rest
  g: { good: fc.integer({ min: 1, max: 1000 }), edge: fc.constantFrom(1, Number.MAX_SAFE_INTEGER), bad: notPositive },
  x: { good: fc.integer({ min: 0, max: 8 }), edge: fc.constantFrom(0, CHUNKS_MAX, Number.MAX_SAFE_INTEGER), bad: fc.constantFrom<unknown>(-1, 1.5, NaN, Infinity, '0', null, undefined) },
  of: { good: fc.integer({ min: 2, max: 9 }), edge: fc.constantFrom(2, CHUNKS_MAX), bad: fc.constantFrom<unknown>(0, 1, CHUNKS_MAX + 1, 2.5, NaN, '3', null, undefined) },
  b: { good: fc.uint8Array({ minLength: 1, maxLength: 64 }), edge: fc.constantFrom(new Uint8Array(1), new Uint8Array(64 * 1024)), bad: fc.constantFrom<unknown>(new Uint8Array(0), [1, 2], 'bytes', null, undefined, 5) },
  got: { good: fc.integer({ min: 1, max: 9 }), edge: fc.constantFrom(1, CHUNKS_MAX), bad: fc.constantFrom<unknown>(0, CHUNKS_MAX + 1, 1.5, NaN, '1', null, undefined) },
  nx: { good: fc.integer({ min: 0, max: 9 }), edge: fc.constantFrom(0, CHUNKS_MAX), bad: fc.constantFrom<unknown>(-1, CHUNKS_MAX + 1, 1.5, NaN, '1', null, undefined) },
  // requests renewed together (wire.ts Renew, Renewed), and what the owner has of each. One each,
  // as the two are drawn apart and a renewed whose tks is not as long as its rs is refused
  // (wire-fuzz tests that, and the longest, on their own)
  rs: {
    good: fc.oneof(fc.nat().map((n) => [new Pick('heard', n, 'r', 'get', 1)]), fc.integer({ min: 1, max: 10_000 }).map((r) => [r])),
    edge: fc.constantFrom([1], [Number.MAX_SAFE_INTEGER]),
    bad: fc.constantFrom<unknown>([], [0], [1, -1], [1.5], ['1'], Array.from({ length: RENEW_MAX + 1 }, (_, j) => j + 1), new Uint32Array([1]), 1, null, undefined),
  },
  tks: {
    good: fc.integer({ min: RENEWED_UNKNOWN, max: 1000 }).map((tk) => [tk]),
    edge: fc.constantFrom([RENEWED_UNKNOWN], [RENEWED_WAITING], [Number.MAX_SAFE_INTEGER]),
    bad: fc.constantFrom<unknown>([], [-2], [0.5], [NaN], ['0'], Array(RENEW_MAX + 1).fill(0), 0, null, undefined),
  },
  // a heartbeat and a peer timeout, ms: past what a peer honours is in range for decode (members.ts takes it at the bound)
  hb: { good: fc.integer({ min: 1, max: 1000 }), edge: fc.constantFrom(1, 2 ** 31 - 1), bad: fc.constantFrom<unknown>(0, -1, 1.5, 2 ** 31, NaN, Infinity, '5', null, undefined) },
  pto: { good: fc.integer({ min: 2, max: 10_000 }), edge: fc.constantFrom(1, 2 ** 31 - 1), bad: fc.constantFrom<unknown>(0, -1, 1.5, 2 ** 31, NaN, Infinity, '5', null, undefined) },
}
/** The `v` of a put, a value or a give: a value's bytes. */
export const valueField: FieldArbitraries = {
  good: fc.oneof(valueBytes.good, fc.nat().map((n) => new Pick('heard', n, 'v', 'value', serialize(ROGUE)))),
  edge: fc.constantFrom(serialize(undefined), serialize(''), serialize(Buffer.alloc(20_000, 1)), serialize(new Uint8Array(0))),
  bad: valueBytes.bad,
}
/** The `v` of a beat or a reset: a version's bytes. */
export const versionField: FieldArbitraries = versionBytes

/** The arbitraries of field `field` of a message of type `t`. */
export function fieldOf(t: MessageType, field: string): FieldArbitraries {
  if (field === 'v') return t === 'put' || t === 'value' || t === 'give' || t === 'set' || t === 'rep' ? valueField : versionField
  const found = fields[field]
  if (found === undefined) throw new Error(`no arbitraries for field ${field}`)
  return found
}

// ---- messages ----

/** How a message departs from a well-formed one. */
export type Flaw =
  | { readonly kind: 'none' }
  /** field `field` holds an out-of-range or wrongly typed value */
  | { readonly kind: 'bad'; readonly field: string }
  | { readonly kind: 'missing'; readonly field: string }
  | { readonly kind: 'extra'; readonly field: string; readonly value: unknown }
  /** an unknown type */
  | { readonly kind: 'type'; readonly t: unknown }

/** A message to forge: its fields (Picks among them), and how it is flawed. */
export interface MessagePlan {
  readonly t: MessageType
  readonly fields: Readonly<Record<string, unknown>>
  readonly flaw: Flaw
  /** answer (or follow up) the `n`-th request heard: s, o, i, r, k, f and to taken from it, unless a flaw says otherwise */
  readonly about?: number
}

export interface MessageOptions {
  /** which types @default every type */
  readonly types?: readonly MessageType[]
  /** how often each kind of field value is drawn @default { good: 8, edge: 1, bad: 0 } */
  readonly weights?: { readonly good: number; readonly edge: number; readonly bad: number }
  /** how often a message is flawed as a whole (a bad, missing or extra field, an unknown type) @default 0.3 */
  readonly flawed?: number
}

/** Fields that no message has (`buffers` is decode's own) or only some have, to add where they do not belong. */
const extras = ['x', 'buffers', '__proto__', 'constructor', 'tk', 'v', 'e', 'n', 'p', 'h']

/** Messages of every type (or `types`), each field drawn from its arbitraries. */
export function messagePlan(options: MessageOptions = {}): fc.Arbitrary<MessagePlan> {
  const { types = TYPES, weights = { good: 8, edge: 1, bad: 0 }, flawed = 0.3 } = options
  return fc.constantFrom(...types).chain((t) => {
    const names = [...BASE, ...FIELDS[t]]
    const arbs: Record<string, fc.Arbitrary<unknown>> = {}
    for (const name of names) {
      const f = fieldOf(t, name)
      const choices = [
        { arbitrary: f.good, weight: weights.good },
        { arbitrary: f.edge, weight: weights.edge },
        { arbitrary: f.bad, weight: weights.bad },
      ].filter((c) => c.weight > 0)
      arbs[name] = fc.oneof(...choices)
    }
    const flaw: fc.Arbitrary<Flaw> = fc.oneof(
      { arbitrary: fc.constant<Flaw>({ kind: 'none' }), weight: Math.round(100 * (1 - flawed)) },
      { arbitrary: fc.constantFrom(...names).map((field) => ({ kind: 'bad', field }) as Flaw), weight: Math.round(40 * flawed) },
      { arbitrary: fc.constantFrom(...names, 't').map((field) => ({ kind: 'missing', field }) as Flaw), weight: Math.round(25 * flawed) },
      { arbitrary: fc.tuple(fc.constantFrom(...extras.filter((x) => !names.includes(x))), fc.anything({ maxDepth: 1 })).map(([field, value]) => ({ kind: 'extra', field, value }) as Flaw), weight: Math.round(20 * flawed) },
      { arbitrary: fc.constantFrom<unknown>('', 'BEAT', 'get ', 'toString', '__proto__', 7, null).map((x) => ({ kind: 'type', t: x }) as Flaw), weight: Math.round(15 * flawed) },
    )
    // a bad field's value is drawn here, so that the plan says exactly what was sent
    return fc.tuple(fc.record(arbs), flaw, fc.option(fc.nat(), { freq: 2 })).chain(([values, flawOf, about]) => {
      const withBad = flawOf.kind === 'bad' ? fieldOf(t, flawOf.field).bad.map((bad) => ({ ...values, [flawOf.field]: bad })) : fc.constant(values)
      return withBad.map((fieldValues) => ({ t, fields: fieldValues, flaw: flawOf, ...(about === null || !FIELDS[t].includes('r') ? {} : { about }) }) as MessagePlan)
    })
  })
}

/** A message plan made real, at send time: its payload object, and where it goes ('' for all). */
export function materialize(plan: MessagePlan, world: World): { message: Record<string, unknown>; to: string } {
  const values: Record<string, unknown> = { ...plan.fields }
  const message = resolve(values, world) as Record<string, unknown>
  message.t = plan.t
  if (plan.about !== undefined && plan.flaw.kind !== 'bad') {
    // a request heard (a get, put... sent to a peer the rogue listens as): answer it as the peer asked
    const asked = at(world.heard().filter((m) => typeof m.t === 'string' && 'r' in m && 'f' in m && 'o' in m), plan.about)
    if (asked !== undefined) {
      for (const field of ABOUT) message[field] = asked[field]
      const asking = ['get', 'put', 'fail', 'drop'].includes(asked.t as string)
      const answering = ['value', 'compute', 'abort', 'error', 'none', 'wait'].includes(plan.t)
      // an answer goes from the peer asked to the peer that asked; a follow-up goes the same way as the request
      if (asking === answering) {
        message.f = asked.to === '' ? message.f : asked.to
        message.to = asked.f
      } else {
        message.f = asked.f
        message.to = asked.to
      }
    }
  }
  switch (plan.flaw.kind) {
    case 'missing':
      delete message[plan.flaw.field]
      break
    case 'extra':
      Object.defineProperty(message, plan.flaw.field, { value: plan.flaw.value, enumerable: true, configurable: true, writable: true })
      break
    case 'type':
      message.t = plan.flaw.t
      break
  }
  const to = typeof message.to === 'string' && world.peers().includes(message.to) ? message.to : ''
  return { message: ownValue(message, world), to }
}

/**
 * `message`, unless it carries the real value of another key than its own (a value heard in an
 * answer about another key): then with a forged value instead. A rogue without the secret can
 * pass one key's value off as another's, and no check can tell that lie from a mix-up of the
 * library's; forged values are always recognisable as forged, so that a check can tell.
 */
function ownValue(message: Record<string, unknown>, world: World): Record<string, unknown> {
  const v = message.v
  if (!(v instanceof Uint8Array) || !['value', 'put', 'give', 'set', 'rep'].includes(message.t as string)) return message
  const other = world.heard().some((m) => m.v instanceof Uint8Array && m.k !== message.k && Buffer.compare(m.v, v) === 0)
  return other ? { ...message, v: serialize(`${ROGUE}: a value of another key`) } : message
}

// ---- envelopes ----

/** Which key seals a forged message: none, the rogue's own (none, or a key the cluster does not have), or the cluster's (when the rogue has it). */
export type KeyChoice = 'unsigned' | 'own' | 'right'

export type EnvelopePlan =
  | { readonly kind: 'sealed'; readonly message: MessagePlan; readonly key: KeyChoice }
  | { readonly kind: 'garbage'; readonly bytes: Uint8Array }
  /** a sealed message cut after `keep` (a fraction) of its bytes */
  | { readonly kind: 'truncated'; readonly message: MessagePlan; readonly key: KeyChoice; readonly keep: number }
  /** a sealed message with bits flipped (bit indices, modulo its length) */
  | { readonly kind: 'flipped'; readonly message: MessagePlan; readonly key: KeyChoice; readonly bits: readonly number[] }
  /** a sealed message whose wire version byte is not this build's */
  | { readonly kind: 'wire'; readonly message: MessagePlan; readonly key: KeyChoice; readonly version: number }
  /** the `n`-th envelope captured on the bus (modulo how many), sent again as it was */
  | { readonly kind: 'replay'; readonly n: number }
  /** the `n`-th message heard, with fields changed, sealed again */
  | { readonly kind: 'reenveloped'; readonly n: number; readonly key: KeyChoice; readonly changes: Readonly<Record<string, unknown>> }

export interface EnvelopeOptions extends MessageOptions {
  /** which keys the rogue may seal with @default ['unsigned', 'own'] */
  readonly keys?: readonly KeyChoice[]
}

/** Envelopes of every kind around messages of `messagePlan(options)`. */
export function envelopePlan(options: EnvelopeOptions = {}): fc.Arbitrary<EnvelopePlan> {
  const message = messagePlan(options)
  const key = fc.constantFrom<KeyChoice>(...(options.keys ?? ['unsigned', 'own']))
  const changes = fc.dictionary(fc.constantFrom('o', 'i', 'r', 'k', 'f', 'to', 'q', 'ts', 'tk', 's'), fc.oneof(fields.k!.good, fields.r!.good, fields.i!.good, fields.f!.good), { maxKeys: 3 })
  return fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('sealed' as const), message, key }), weight: 10 },
    { arbitrary: fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ maxLength: 200 }) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('truncated' as const), message, key, keep: fc.double({ min: 0, max: 1, noNaN: true }) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('flipped' as const), message, key, bits: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('wire' as const), message, key, version: fc.integer({ min: 0, max: 255 }).filter((v) => v !== WIRE_VERSION) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('replay' as const), n: fc.nat() }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('reenveloped' as const), n: fc.nat(), key, changes }), weight: 3 },
  )
}

/** The seals of a world, made once per world. */
const seals = new WeakMap<World, Record<KeyChoice, Seal>>()
function sealOf(world: World, key: KeyChoice): Seal {
  let mine = seals.get(world)
  if (mine === undefined) {
    const own = new Seal(world.name, world.secrets.own)
    mine = { unsigned: new Seal(world.name, []), own, right: world.secrets.right === undefined ? own : new Seal(world.name, world.secrets.right) }
    seals.set(world, mine)
  }
  return mine[key]
}

const sealed = (message: Record<string, unknown>, world: World, key: KeyChoice): Uint8Array => sealOf(world, key).seal(serializeAnyway(message))

/** v8.serialize of a forged message; what it cannot serialize (a flaw put a function in) is left out. */
function serializeAnyway(message: Record<string, unknown>): Uint8Array {
  try {
    return serialize(message)
  } catch {
    return serialize(Object.fromEntries(Object.entries(message).filter(([, v]) => typeof v !== 'function' && typeof v !== 'symbol')))
  }
}

/** The bytes of an envelope plan at send time, and where they go ('' for all); undefined when there is nothing to replay yet. */
export function envelopeBytes(plan: EnvelopePlan, world: World): { bytes: Uint8Array; to: string } | undefined {
  switch (plan.kind) {
    case 'garbage':
      return { bytes: plan.bytes, to: '' }
    case 'replay': {
      const bytes = at(world.captured(), plan.n)
      return bytes === undefined ? undefined : { bytes, to: '' }
    }
    case 'reenveloped': {
      const heard = at(world.heard(), plan.n)
      if (heard === undefined) return undefined
      const message: Record<string, unknown> = { ...heard, ...(resolve(plan.changes, world) as Record<string, unknown>) }
      if (!('q' in plan.changes)) message.q = world.next()
      if (!('ts' in plan.changes)) message.ts = Date.now()
      const to = typeof message.to === 'string' && world.peers().includes(message.to) ? message.to : ''
      return { bytes: sealed(ownValue(message, world), world, plan.key), to }
    }
  }
  const { message, to } = materialize(plan.message, world)
  const bytes = new Uint8Array(sealed(message, world, plan.key))
  switch (plan.kind) {
    case 'sealed':
      return { bytes, to }
    case 'truncated':
      return { bytes: bytes.subarray(0, Math.floor(plan.keep * bytes.length)), to }
    case 'flipped':
      for (const bit of plan.bits) {
        const i = Math.floor(bit / 8) % bytes.length
        bytes[i] = (bytes[i] as number) ^ (1 << bit % 8)
      }
      return { bytes, to }
    case 'wire':
      bytes[0] = plan.version
      return { bytes, to }
  }
}
