import test from 'ava'
import fc from 'fast-check'
import { encodeKey, showKey, ownerOf } from '../src/shared/key.js'

const leaf = fc.oneof(fc.string(), fc.double(), fc.integer(), fc.bigInt(), fc.boolean(), fc.constant(null))
const key = fc.letrec((tie) => ({
  key: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('key'), { maxLength: 4 }), fc.dictionary(fc.string(), tie('key'), { maxKeys: 4 })),
})).key

/** The same key built again with its object fields in reverse order. */
function reordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reordered)
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reordered(v)]))
  }
  return value
}

test('equal keys have equal encodings, whatever the order of their object fields', (t) => {
  fc.assert(fc.property(key, (k) => encodeKey(k) === encodeKey(reordered(k))))
  t.is(encodeKey({ a: 1, b: 2 }), encodeKey({ b: 2, a: 1 }))
  t.is(encodeKey(structuredClone([1, 'a', { x: [null, true] }])), encodeKey([1, 'a', { x: [null, true] }]))
})

test('different keys have different encodings', (t) => {
  fc.assert(
    fc.property(key, key, (a, b) => {
      const same = encodeKey(a) === encodeKey(b)
      return same === (JSON.stringify(canonical(a)) === JSON.stringify(canonical(b)))
    }),
  )
  const distinct = [1, '1', 1n, true, 'true', null, 'null', [1], ['1'], [[1]], { 1: 1 }, '\u0000n1', '\u0000', '', [], {}, ['a,b'], ['a', 'b']]
  t.is(new Set(distinct.map(encodeKey)).size, distinct.length)
})

// A reference form for comparing keys: type-tagged, fields sorted, -0 and 0 the same.
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return ['array', value.map(canonical)]
  if (typeof value === 'object' && value !== null) {
    return ['object', Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])])]
  }
  if (typeof value === 'number') return ['number', Object.is(value, -0) ? '0' : String(value)]
  if (typeof value === 'bigint') return ['bigint', String(value)]
  return [typeof value, value]
}

test('NaN is NaN and -0 is 0, as in a Map; 1 is not "1"', (t) => {
  t.is(encodeKey(NaN), encodeKey(Number.NaN))
  t.is(encodeKey(-0), encodeKey(0))
  t.is(encodeKey([-0]), encodeKey([0]))
  t.not(encodeKey(1), encodeKey('1'))
  t.not(encodeKey(1), encodeKey(1n))
})

test('keys spread over owners, and a key always goes to the same owner', (t) => {
  const counts = [0, 0, 0, 0]
  for (let i = 0; i < 4000; i++) counts[ownerOf(encodeKey(['page', i]), 4)]!++
  for (const n of counts) t.true(n > 800 && n < 1200, `owner counts ${counts.join(', ')}`)
  t.is(ownerOf(encodeKey({ a: [1, 2] }), 7), ownerOf(encodeKey({ a: [1, 2] }), 7))
})

test('error messages show keys readably', (t) => {
  t.is(showKey(encodeKey('home')), '"home"')
  t.is(showKey(encodeKey(['page', 42, true, null, 10n])), '["page",42,true,null,10n]')
  t.is(showKey(encodeKey({ b: 'x', a: -1.5 })), '{"a":-1.5,"b":"x"}')
})
