// What a value takes in memory once it is held as JavaScript (an owner's small values, a thread's
// near copies), estimated by walking it once. memoryLimit and nearLimit count this rather than
// the value's serialized size: `{ id }` is 10 bytes serialized and about 50 on the heap, an array
// of small records about 2.5 times its serialized size, a string of one-byte characters its
// length and a header.
//
// The sizes are V8's on 64-bit Node without pointer compression (Node's own builds: Node 20,
// x64), measured by keeping 300 to 100,000 deserialized copies of a value of each kind (plain
// objects of 1 to 200 properties, strings of one and two bytes a character, arrays of integers,
// of fractions and of records, Maps, Sets, Dates, typed arrays) and reading the heap used and
// the external memory after gc: the estimate came within 5% of each, but for a whole number in
// a field that holds fractions in other values of its shape (V8 boxes it, 16 bytes, and this
// sees only the one value). A build with pointer compression takes less than this says, which
// errs on the side of the cap.

/** A plain object with up to IN_OBJECT properties, which it holds inside itself. */
const OBJECT = 56
const IN_OBJECT = 4
/** More properties go to an array of their own, grown three at a time. */
const PROPERTY_ARRAY = 16
const SLOT = 8
/** A property name this thread has not met yet: its share of a new hidden class, beside its string. */
const NAME = 40
/**
 * The property names this thread has met. V8 keeps one copy of a property name, and objects of
 * one shape share one hidden class, so a name is counted the first time it is met, not in every
 * value: ten thousand rows `{ id, name }` pay for "id" and "name" once, a dictionary keyed by
 * ids pays for each id. Forgotten all at once past NAMES_MAX (then counted again: the cap errs
 * on its safe side).
 */
const names = new Set<string>()
const NAMES_MAX = 10_000
/** Past this many properties an object is a dictionary: about three slots each, and room to grow. */
const FAST_PROPERTIES = 1020
const DICTIONARY_PROPERTY = 48
/** A number that is not a small integer lives in a box of its own. */
const HEAP_NUMBER = 16
/** A string's header (map, hash, length); its characters follow, rounded up to 8 bytes. */
const STRING = 16
/** An array: its object, and the header of the array that holds its elements. */
const ARRAY = 32 + 16
/** A Map or Set: its object, and the header of its hash table. */
const COLLECTION = 32 + 40
/** An ArrayBuffer: its object on the heap, and its backing store's bookkeeping outside it. */
const ARRAY_BUFFER = 320
/** A view of one (a typed array, a DataView, a Buffer). */
const VIEW = 120
const DATE = 112
const OTHER = 160

const SMI_MIN = -(2 ** 31)
const SMI_MAX = 2 ** 31 - 1
const TWO_BYTE = /[^\u0000-\u00ff]/

/** The bytes a string takes on the heap. */
export function stringSize(text: string): number {
  return STRING + align(TWO_BYTE.test(text) ? 2 * text.length : text.length)
}

const align = (n: number) => (n + 7) & ~7
const pow2 = (n: number) => (n <= 4 ? 4 : 2 ** Math.ceil(Math.log2(n)))

function objectSize(fields: number): number {
  if (fields > FAST_PROPERTIES) return OBJECT + DICTIONARY_PROPERTY * fields
  return fields <= IN_OBJECT ? OBJECT : OBJECT + PROPERTY_ARRAY + SLOT * 3 * Math.ceil((fields - IN_OBJECT) / 3)
}

const isSmi = (n: number) => Number.isInteger(n) && n >= SMI_MIN && n <= SMI_MAX && !Object.is(n, -0)

/** What a primitive takes beside the slot that holds it; objects are walked by footprintOf. */
function primitiveSize(part: unknown): number {
  switch (typeof part) {
    case 'string':
      return stringSize(part)
    case 'number':
      return isSmi(part) ? 0 : HEAP_NUMBER
    case 'bigint':
      return 16 + 8 * Math.ceil((part < 0n ? -part : part).toString(16).length / 16)
    default:
      return 0
  }
}

/**
 * The bytes `value` takes on the heap and in the ArrayBuffers it holds, each object counted
 * once however often it is referred to. An ArrayBuffer counts its whole length once, so a
 * Buffer that is a view into a larger one (as v8.deserialize makes them) counts what it keeps.
 */
export function footprintOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return primitiveSize(value)
  let total = 0
  const seen = new Set<object>()
  const todo: object[] = [value]
  // A field that has held a fraction boxes every number it holds, whole ones too: V8 gives a
  // field one representation per shape. Whole numbers are counted unboxed, then boxed at the
  // end for the fields that turned out to hold fractions.
  const wholes = new Map<string, number>()
  const fractions = new Set<string>()
  const add = (part: unknown) => {
    if (typeof part === 'object' && part !== null) todo.push(part)
    else total += primitiveSize(part)
  }
  const buffer = (ab: ArrayBufferLike) => {
    if (seen.has(ab)) return
    seen.add(ab)
    total += ARRAY_BUFFER + ab.byteLength
  }
  for (let part = todo.pop(); part !== undefined; part = todo.pop()) {
    if (seen.has(part)) continue
    seen.add(part)
    if (Array.isArray(part)) {
      total += ARRAY + SLOT * part.length
      for (const item of part) add(item)
    } else if (ArrayBuffer.isView(part)) {
      total += VIEW
      buffer(part.buffer)
    } else if (part instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && part instanceof SharedArrayBuffer)) {
      buffer(part)
    } else if (part instanceof Map) {
      total += COLLECTION + 28 * pow2(part.size)
      for (const [k, v] of part) add(k), add(v)
    } else if (part instanceof Set) {
      total += COLLECTION + 20 * pow2(part.size)
      for (const v of part) add(v)
    } else if (part instanceof Date) {
      total += DATE
    } else {
      const fields = Object.keys(part)
      total += objectSize(fields.length) + (part instanceof Error || part instanceof RegExp ? OTHER : 0)
      for (const field of fields) {
        if (!names.has(field)) {
          if (names.size >= NAMES_MAX) names.clear()
          names.add(field)
          total += stringSize(field) + NAME
        }
        const item = (part as Record<string, unknown>)[field]
        if (typeof item === 'number' && isSmi(item)) wholes.set(field, (wholes.get(field) ?? 0) + 1)
        else if (typeof item === 'number') fractions.add(field)
        add(item)
      }
      if (part instanceof Error) add(part.message), add(part.stack)
      else if (part instanceof RegExp) add(part.source)
    }
  }
  for (const field of fractions) total += HEAP_NUMBER * (wholes.get(field) ?? 0)
  return total
}
