// What a value may be, so that every caller gets the same kind of value whichever path it took:
// its computer (fn's own object), a waiter in the same thread, a near copy, another thread (a
// structured clone, or v8.deserialize of its bytes), another process (v8.deserialize).
//
// Structured cloning keeps plain data as it is, with two exceptions that would reach other
// callers changed without a word: an instance of a class (it arrives as a plain object, without
// its prototype and methods) and a Buffer (postMessage makes it a Uint8Array; v8.deserialize
// keeps it a Buffer). So: a class instance anywhere in a value is refused, naming its class and
// where it is; and a value that holds a Buffer always travels as bytes, which v8.deserialize
// turns back into Buffers.
import { serialize } from 'node:v8'
import { VERSION_MAX } from './memory/layout.js'
import { ValueNotCloneableError } from './errors.js'
import { showKey } from './key.js'

const typedArrays = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
]
const errors = [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError]
/** Prototypes whose instances a structured clone keeps as they are. */
const kept = new Set<object>([
  Object.prototype, Array.prototype, Date.prototype, RegExp.prototype, Map.prototype, Set.prototype,
  ArrayBuffer.prototype, DataView.prototype, Number.prototype, String.prototype, Boolean.prototype,
  BigInt.prototype, ...typedArrays.map((c) => c.prototype), ...errors.map((c) => c.prototype),
])

/** What `shapeOf` found in a value that can be shared. */
export interface ValueShape {
  /** the value holds a Buffer: it must travel as bytes to stay one */
  readonly buffers: boolean
}

/** Thrown by `shapeOf`: the part at `path` is an instance of `what`. */
export class UnclonedPart extends Error {
  readonly path: string
  readonly what: string

  constructor(path: string, what: string) {
    super(`${path} is ${what}, which would reach other callers without its prototype`)
    this.path = path
    this.what = what
  }
}

/**
 * Looks through `value` once: throws UnclonedPart for an instance of a class (or an object
 * without a prototype) anywhere in it; says whether it holds a Buffer. What cannot be cloned at
 * all (a function, a symbol) is left for v8.serialize to refuse.
 */
export function shapeOf(value: unknown): ValueShape {
  if (typeof value !== 'object' || value === null) return { buffers: false }
  let buffers = false
  const seen = new Set<object>()
  // Depth first, with a stack of its own: a value nested deeper than the call stack is looked
  // through all the same (v8.serialize then says whether it can be cloned at all).
  const todo: [unknown, string][] = [[value, 'value']]
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    const [part, path] = next
    if (typeof part !== 'object' || part === null || seen.has(part)) continue
    seen.add(part)
    const proto = Object.getPrototypeOf(part) as object | null
    if (proto === Buffer.prototype) {
      buffers = true
      continue
    }
    if (proto === null) throw new UnclonedPart(path, 'an object without a prototype')
    if (!kept.has(proto)) {
      const name = (proto as { constructor?: { name?: unknown } }).constructor?.name
      throw new UnclonedPart(path, `an instance of ${typeof name === 'string' && name !== '' ? name : 'a class'}`)
    }
    if (ArrayBuffer.isView(part) || part instanceof ArrayBuffer) continue
    if (part instanceof Map) {
      let i = 0
      for (const [k, v] of part) {
        todo.push([k, `${path}.keys()[${i}]`], [v, `${path}.get(…)[${i++}]`])
      }
    } else if (part instanceof Set) {
      let i = 0
      for (const v of part) todo.push([v, `${path}.values()[${i++}]`])
    } else if (Array.isArray(part)) {
      for (let i = part.length - 1; i >= 0; i--) todo.push([part[i], `${path}[${i}]`])
    } else {
      for (const field of Object.keys(part).reverse()) {
        todo.push([(part as Record<string, unknown>)[field], /^[A-Za-z_$][\w$]*$/.test(field) ? `${path}.${field}` : `${path}[${JSON.stringify(field)}]`])
      }
    }
  }
  return { buffers }
}

/**
 * Values up to about this many bytes serialized, without Buffers, are held by owners as
 * themselves (a hit clones them); larger ones as their bytes (see owner/store.ts).
 */
export const INLINE_MAX = 16 * 1024

/**
 * Whether a computed value may travel to its owner as itself, structured-cloned by postMessage
 * (one clone, and the owner holds what arrives), rather than as v8.serialize bytes the owner
 * then deserializes: plain data only, that a clone keeps exactly and cannot refuse — primitives
 * but symbols, plain objects, arrays, Dates — no larger than about `max` bytes serialized.
 * Anything else (a Buffer, a Map, a class instance, a function, a large value) travels as bytes,
 * through serializeValue, which refuses what cannot be shared with its usual error. Looked
 * through without a set of the parts seen: each part visited adds to the estimate, so a cycle
 * (or a part shared many times) only makes the value too large to travel as itself.
 */
export function travelsAsItself(value: unknown, max: number): boolean {
  let bytes = 0
  let todo: object[] | undefined
  const visit = (item: unknown) => {
    if (typeof item === 'object' && item !== null) (todo ??= []).push(item)
    else bytes += leafBytes(item)
  }
  for (let part: unknown = value; ; ) {
    if (typeof part !== 'object' || part === null) bytes += leafBytes(part)
    else {
      const proto = Object.getPrototypeOf(part) as object | null
      if (proto === Object.prototype) {
        bytes += 4
        for (const field in part as Record<string, unknown>) {
          bytes += 4 + field.length
          visit((part as Record<string, unknown>)[field])
        }
      } else if (proto === Array.prototype) {
        const items = part as unknown[]
        bytes += 4 + items.length
        if (bytes > max) return false
        for (let i = 0; i < items.length; i++) visit(items[i])
      } else if (proto === Date.prototype) bytes += 9
      else return false
    }
    if (bytes > max) return false
    const next = todo?.pop()
    if (next === undefined) return true
    part = next
  }
}

/** What a primitive adds to travelsAsItself's estimate; Infinity (never small) for a symbol or a function. */
function leafBytes(item: unknown): number {
  switch (typeof item) {
    case 'string':
      return 4 + item.length
    case 'number':
    case 'bigint':
      return 9
    case 'boolean':
    case 'undefined':
    case 'object':
      return 1
    default:
      return Number.POSITIVE_INFINITY
  }
}

/** The bytes of a version, refused with a clear error when it cannot be shared. */
export function serializeVersion(version: unknown, where: string): Uint8Array {
  try {
    shapeOf(version)
  } catch (error) {
    throw new TypeError(`${where} must be plain data (a number, a string, a plain object...): ${(error as Error).message}`)
  }
  let bytes: Uint8Array
  try {
    bytes = serialize(version)
  } catch (cause) {
    throw new TypeError(`${where} must be a cloneable value (a number, a string, a plain object...): ${(cause as Error).message}`)
  }
  if (bytes.length > VERSION_MAX) {
    throw new RangeError(`${where} is ${bytes.length} bytes serialized, more than ${VERSION_MAX}; name the version with something short, such as a hash`)
  }
  return bytes
}

/** A value as it is stored and sent: its v8.serialize bytes, and whether it holds Buffers. Throws ValueNotCloneableError. */
export function serializeValue(value: unknown, key: string): { readonly bytes: Buffer; readonly buffers: boolean } {
  try {
    return { buffers: shapeOf(value).buffers, bytes: serialize(value) }
  } catch (cause) {
    throw new ValueNotCloneableError(showKey(key), cause)
  }
}

/**
 * Whether `bytes` are all of the ArrayBuffer they view: only then can the buffer be transferred
 * with them, or kept for them alone. (v8.deserialize reads a Uint8Array as a view into what it
 * reads from, and Node pools small Buffers.)
 */
export function spansItsBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
}
