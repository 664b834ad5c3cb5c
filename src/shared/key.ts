import { InvalidKeyError } from './errors.js'

/** What a key may be: a string, number, bigint, boolean, null, or arrays / plain objects of these. */
export type Key = string | number | bigint | boolean | null | readonly Key[] | { readonly [field: string]: Key }

// The canonical encoding: equal keys get equal strings in every thread and process, and
// different keys different strings. JSON.stringify would not do: it loses bigints, maps
// NaN to null and -0 to 0 inconsistently, and keeps an object's own field order.
//
// A top-level string is its own encoding, so the commonest key costs nothing to encode. Every
// other encoding starts with NUL and a tag; a string that itself starts with NUL is escaped
// with the tag `s`, so no string can collide with the encoding of anything else.
//   null → \0z   true → \0t   false → \0f   1 → \0n1   NaN → \0nNaN   -0 → \0n0
//   10n → \0b10  ['a', 1] → \0["a",n1]   {b:2, a:1} → \0{"a":n1,"b":n2}
// Inside arrays and objects strings are JSON-quoted, so `,` `]` `}` in them are unambiguous.

const NUL = '\u0000'
/** How deep arrays and objects may nest in a key: deeper, it is refused rather than overflow the stack. */
export const KEY_DEPTH_MAX = 64

/** The canonical encoding of `key`; throws InvalidKeyError naming the offending part. */
export function encodeKey(key: unknown): string {
  if (typeof key === 'string') return key.charCodeAt(0) === 0 ? NUL + 's' + key : key
  return NUL + encodePart(key, 'key', [])
}

function encodePart(part: unknown, path: string, open: object[]): string {
  switch (typeof part) {
    case 'string':
      return JSON.stringify(part)
    case 'number':
      // String() is the canonical shortest round-trip form; -0 is 0 as in a Map.
      return 'n' + (part === 0 ? '0' : String(part))
    case 'bigint':
      return 'b' + part.toString()
    case 'boolean':
      return part ? 't' : 'f'
    case 'object':
      if (part === null) return 'z'
      return encodeComposite(part, path, open)
    case 'undefined':
      throw new InvalidKeyError(path, 'undefined')
    case 'function':
      throw new InvalidKeyError(path, 'a function')
    case 'symbol':
      throw new InvalidKeyError(path, 'a symbol')
  }
}

function encodeComposite(part: object, path: string, open: object[]): string {
  if (open.includes(part)) throw new InvalidKeyError(path, 'a reference back to an enclosing part (a cycle)')
  if (open.length >= KEY_DEPTH_MAX) throw new InvalidKeyError(path, `nested more than ${KEY_DEPTH_MAX} deep`)
  open.push(part)
  try {
    if (Array.isArray(part)) {
      if (Object.getPrototypeOf(part) !== Array.prototype) throw new InvalidKeyError(path, 'an instance of an Array subclass')
      let out = '['
      for (let i = 0; i < part.length; i++) {
        if (!(i in part)) throw new InvalidKeyError(`${path}[${i}]`, 'a hole in a sparse array')
        out += (i === 0 ? '' : ',') + encodePart(part[i], `${path}[${i}]`, open)
      }
      return out + ']'
    }
    const proto = Object.getPrototypeOf(part)
    if (proto !== Object.prototype && proto !== null) {
      const name = (proto as { constructor?: { name?: string } }).constructor?.name ?? 'unknown class'
      throw new InvalidKeyError(path, `an instance of ${name}`)
    }
    if (Object.getOwnPropertySymbols(part).length > 0) throw new InvalidKeyError(path, 'an object with symbol-named fields')
    const fields = Object.keys(part).sort()
    let out = '{'
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i] as string
      const at = /^[A-Za-z_$][\w$]*$/.test(field) ? `${path}.${field}` : `${path}[${JSON.stringify(field)}]`
      out += (i === 0 ? '' : ',') + JSON.stringify(field) + ':' + encodePart((part as Record<string, unknown>)[field], at, open)
    }
    return out + '}'
  } finally {
    open.pop()
  }
}

/** A readable form of an encoded key, for error messages: `["page",42]`, `"home"`, `10n`. */
export function showKey(encoded: string): string {
  if (encoded.charCodeAt(0) !== 0) return JSON.stringify(encoded)
  if (encoded.charCodeAt(1) === 0x73 /* s */) return JSON.stringify(encoded.slice(2))
  return encoded.slice(1).replace(/"(?:[^"\\]|\\.)*"|n([^,\]}]+)|b([^,\]}]+)|[tfz]/g, (token, number, bigint) => {
    if (number !== undefined) return number
    if (bigint !== undefined) return bigint + 'n'
    return token === 't' ? 'true' : token === 'f' ? 'false' : token === 'z' ? 'null' : token
  })
}

/** FNV-1a over a string's UTF-16 code units, continuing from `hash`. */
export function fnv1a(text: string, hash = 0x811c9dc5): number {
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** Which of `owners` owns the key: FNV-1a over the encoding's UTF-16 code units. */
export function ownerOf(encoded: string, owners: number): number {
  return fnv1a(encoded) % owners
}

/**
 * The encoded array key `encoded`'s proper prefixes, each as the start every key under it
 * shares: `\0["user",n42,"profile"]` → `\0["user",`, `\0["user",n42,`. Empty for any other
 * key. What prefix invalidation indexes (owner/store.ts).
 */
export function prefixesOf(encoded: string): string[] {
  if (!encoded.startsWith(NUL + '[')) return []
  const starts: string[] = []
  let depth = 0
  for (let i = 2; i < encoded.length; i++) {
    const c = encoded.charCodeAt(i)
    if (c === 0x22 /* " */) {
      // Skip the JSON string, escapes included.
      for (i++; i < encoded.length && encoded.charCodeAt(i) !== 0x22; i++) if (encoded.charCodeAt(i) === 0x5c) i++
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) depth++
    else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--
    else if (c === 0x2c /* , */ && depth === 0) starts.push(encoded.slice(0, i + 1))
  }
  return starts
}

/** What every key under the array key `encoded` starts with (see prefixesOf). */
export function prefixStart(encoded: string): string {
  return encoded.slice(0, -1) + ','
}
