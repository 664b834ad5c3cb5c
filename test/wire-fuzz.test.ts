// The bus's first line, fuzzed: seal.ts opens an envelope and wire.ts decodes what is inside, for
// whatever a member of the topic sends (the arbitraries of helpers/arbitraries.ts, every field of
// every message type). Neither may throw; a message whose every field is one a peer could send,
// or sits at a limit, is taken; one with a field out of range or of the wrong type, a field
// missing, a field it does not have, or an unknown type, is refused; with a secret, nothing that
// is not sealed with one of the cache's keys gets through, cut, flipped or not. These are also
// the arbitraries' own test: the fault campaign trusts them to mean what they say.
import test from 'ava'
import fc from 'fast-check'
import { randomUUID } from 'node:crypto'
import { serialize } from 'node:v8'
import { Seal, unchecked } from '../src/peer/seal.js'
import { BATCH_MAX, decode, decodeAll, RENEW_MAX, RENEWED_UNKNOWN, RENEWED_WAITING, type Reader } from '../src/peer/wire.js'
import { envelopeBytes, envelopePlan, materialize, messagePlan, type World } from './helpers/arbitraries.js'
import type { Heard } from './helpers/rogue.js'

const NAME = 'fuzz'
const SECRET = new TextEncoder().encode('the cluster secret, 32 bytes ok!')
const WRONG = new TextEncoder().encode('a secret that is not the cluster')
const PEERS = ['peer-a', 'peer-b']
const incarnation = randomUUID()
const stamp = { clock: 3, origin: 'peer-a', born: 0 }
/** What a rogue listening as peer-b would have heard. */
const HEARD: Heard[] = [
  { c: NAME, f: 'peer-a', q: 10, ts: Date.now(), to: '', t: 'beat', s: stamp, v: serialize(5), n: Array(14).fill(1), host: 'host-a', pid: 4242, hb: 50, pto: 1000 },
  { c: NAME, f: 'peer-a', q: 11, ts: Date.now(), to: 'peer-b', t: 'get', s: stamp, o: 1, i: incarnation, r: 7, k: 'k1', p: false },
  { c: NAME, f: 'peer-b', q: 12, ts: Date.now(), to: 'peer-a', t: 'compute', s: stamp, o: 1, i: incarnation, r: 7, k: 'k1', tk: 3 },
  { c: NAME, f: 'peer-b', q: 13, ts: Date.now(), to: 'peer-a', t: 'value', s: stamp, o: 1, i: incarnation, r: 8, k: 'k0', v: serialize('k0@5#1.1'), h: true },
]

function world(secrets: World['secrets']): World {
  let q = 0
  return { name: NAME, self: 'rogue-1', peers: () => PEERS, keys: ['k0', 'k1', 'k2'], heard: () => HEARD, captured: () => [], next: () => ++q, secrets }
}
/** The peer a message is read by: its recipient, or the first peer for a broadcast. */
const readerFor = (to: string): Reader => ({ name: NAME, self: to === '' ? (PEERS[0] as string) : to, memoryLimit: 1024 * 1024 })

test('a message whose every field a peer could send, or sits at a limit, is decoded', (t) => {
  const w = world({ own: [] })
  fc.assert(
    fc.property(messagePlan({ weights: { good: 3, edge: 1, bad: 0 }, flawed: 0 }), (plan) => {
      const { message, to } = materialize(plan, w)
      const decoded = decode(serialize(message), readerFor(to))
      if (typeof decoded === 'string') throw new Error(`refused ${plan.t} (${decoded}): ${JSON.stringify(message, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)).slice(0, 300)}`)
    }),
    { numRuns: 400 },
  )
  t.pass()
})

test('a message with a field out of range or of the wrong type, missing, extra, or of an unknown type is refused', (t) => {
  const w = world({ own: [] })
  const reasons = new Map<string, number>()
  fc.assert(
    fc.property(messagePlan({ weights: { good: 3, edge: 1, bad: 0 }, flawed: 1 }), (plan) => {
      if (plan.flaw.kind === 'none') return
      const { message, to } = materialize(plan, w)
      const decoded = decode(serialize(message), readerFor(to))
      if (typeof decoded !== 'string') throw new Error(`took a ${plan.t} with flaw ${JSON.stringify(plan.flaw)}: ${String(message[(plan.flaw as { field?: string }).field ?? 't'])}`)
      const reason = decoded.replace(/".*"|\d+/g, '…')
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
    }),
    { numRuns: 600 },
  )
  t.log([...reasons].map(([r, n]) => `${n} × ${r}`).join('\n'))
  t.true(reasons.size >= 5, 'the flaws reach many different checks')
})

test('whatever a member sends, opening and decoding it never throws', (t) => {
  const plain = world({ own: [WRONG] })
  const open = new Seal(NAME, [])
  fc.assert(
    fc.property(envelopePlan({ weights: { good: 4, edge: 1, bad: 1 }, keys: ['unsigned', 'own'] }), (plan) => {
      const sent = envelopeBytes(plan, plain)
      if (sent === undefined) return
      open.open(sent.bytes)
      open.foreign(sent.bytes, NAME)
      // Decoded whatever the seal says, as an envelope a peer would open.
      const payload = unchecked(sent.bytes)
      if (payload !== undefined) decode(payload, readerFor(sent.to))
    }),
    { numRuns: 500 },
  )
  t.pass()
})

test('with a secret, nothing but a whole message sealed with the cache’s key gets past the envelope', (t) => {
  const rogue = world({ own: [WRONG], right: [SECRET] })
  const cache = new Seal(NAME, [SECRET])
  let opened = 0
  fc.assert(
    fc.property(envelopePlan({ weights: { good: 4, edge: 1, bad: 1 }, keys: ['unsigned', 'own', 'right'] }), (plan) => {
      const sent = envelopeBytes(plan, rogue)
      if (sent === undefined) return
      const payload = cache.open(sent.bytes)
      const right = 'key' in plan && plan.key === 'right'
      const whole = plan.kind === 'sealed' || plan.kind === 'reenveloped' || (plan.kind === 'truncated' && plan.keep === 1)
      if (typeof payload === 'string') {
        if (right && whole) throw new Error(`refused a message sealed with the right key: ${payload}`)
        return
      }
      if (!(right && (whole || plan.kind === 'flipped'))) throw new Error(`opened a ${plan.kind} envelope sealed ${'key' in plan ? plan.key : 'by nobody'}`)
      // a flipped bit that the MAC let through can only be one that did not change the bytes: two flips of one bit
      if (plan.kind === 'flipped' && new Set(plan.bits.map((b) => b % 8 + 8 * (Math.floor(b / 8) % sent.bytes.length))).size === plan.bits.length) {
        throw new Error('a bit-flipped envelope passed the MAC')
      }
      opened++
    }),
    { numRuns: 500 },
  )
  t.true(opened > 20, `${opened} envelopes sealed with the right key were opened`)
})

test('an envelope of several messages yields each one that is right, and refuses each one that is not, alone', (t) => {
  const reader = readerFor('peer-a')
  const base = { c: NAME, f: 'peer-b', ts: Date.now(), to: 'peer-a' }
  const good = (q: number) => ({ ...base, q, t: 'wait', s: stamp, o: 1, i: incarnation, r: q, k: `k${q}` })
  const batch = [good(1), { ...good(2), o: 999 }, good(3), { ...good(4), c: 'another cache' }, good(5)]
  const decoded = decodeAll(serialize(batch), reader)
  if (typeof decoded === 'string') return t.fail(decoded)
  t.deepEqual(
    decoded.messages.map((m) => m.q),
    [1, 3, 5],
  )
  t.is(decoded.refused.length, 2)
  // a batch is two to BATCH_MAX messages; an empty one, one of one, or a longer one is refused whole
  for (const length of [0, 1, BATCH_MAX + 1]) {
    t.is(typeof decodeAll(serialize(Array.from({ length }, (_, i) => good(i + 1))), reader), 'string', `a batch of ${length}`)
  }
  // decode() takes one message, never a batch
  t.is(typeof decode(serialize([good(1), good(2)]), reader), 'string')
  t.like(decode(serialize(good(1)), reader), { t: 'wait', q: 1 })
})

test('a renew names 1 to RENEW_MAX requests, and a renewed says what is held of each of them, no more and no fewer', (t) => {
  const reader = readerFor('peer-a')
  const base = { c: NAME, f: 'peer-b', q: 1, ts: Date.now(), to: 'peer-a', s: stamp, o: 1, i: incarnation }
  const numbers = (n: number) => Array.from({ length: n }, (_, j) => j + 1)
  t.like(decode(serialize({ ...base, t: 'renew', rs: numbers(RENEW_MAX) }), reader), { t: 'renew' })
  t.is(decode(serialize({ ...base, t: 'renew', rs: numbers(RENEW_MAX + 1) }), reader), 'its field rs is malformed')
  t.is(decode(serialize({ ...base, t: 'renew', rs: [] }), reader), 'its field rs is malformed')
  const held = numbers(RENEW_MAX).map((r) => (r % 3 === 0 ? RENEWED_UNKNOWN : r % 3 === 1 ? RENEWED_WAITING : r))
  t.like(decode(serialize({ ...base, t: 'renewed', rs: numbers(RENEW_MAX), tks: held }), reader), { t: 'renewed' })
  t.is(decode(serialize({ ...base, t: 'renewed', rs: numbers(3), tks: [0, 0] }), reader), 'its fields rs and tks differ in length')
  t.is(decode(serialize({ ...base, t: 'renewed', rs: numbers(2), tks: [0, 0, 5] }), reader), 'its fields rs and tks differ in length')
  t.is(decode(serialize({ ...base, t: 'renewed', rs: numbers(1), tks: [-2] }), reader), 'its field tks is malformed')
})

test('whatever an envelope of several messages holds, decoding it never throws', (t) => {
  const w = world({ own: [] })
  fc.assert(
    fc.property(fc.array(messagePlan({ weights: { good: 4, edge: 1, bad: 2 } }), { minLength: 2, maxLength: 8 }), (plans) => {
      const messages = plans.map((plan) => materialize(plan, w).message)
      const decoded = decodeAll(serialize(messages), readerFor('peer-a'))
      return typeof decoded === 'string' || decoded.messages.length + decoded.refused.length === messages.length
    }),
    { numRuns: 300 },
  )
  t.pass()
})
