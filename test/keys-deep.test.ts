// How deep a key may nest (issue 7, finding 7: a key nested 10,000 deep threw a stack overflow).
// Up to KEY_DEPTH_MAX arrays or objects inside one another is a key; one more is refused at the
// call with InvalidKeyError, a TypeError with a stable code that says where, however deep the
// key goes, and the cache goes on.
import test from 'ava'
import { cached, createCache, InvalidKeyError, type Cache, type Key } from 'coop-cache'
import { KEY_DEPTH_MAX } from '../src/shared/key.js'

/** `depth` arrays and objects inside one another around a string: `wrap` makes each level. */
function nested(depth: number, wrap: (inner: Key, level: number) => Key = (inner) => [inner]): Key {
  let key: Key = 'leaf'
  for (let level = 0; level < depth; level++) key = wrap(key, level)
  return key
}
const arrays = (depth: number) => nested(depth)
const objects = (depth: number) => nested(depth, (inner) => ({ a: inner }))
const mixed = (depth: number) => nested(depth, (inner, level) => (level % 2 === 0 ? [1, inner] : { x: null, y: inner }))

let cache: Cache
test.before(async () => {
  cache = await createCache({ name: 'keys-deep', threads: 1 })
})
test.after.always(() => cache.close())

/** The call for `key`: rejects rather than throws, and runs no fn. */
async function refusal(key: Key): Promise<InvalidKeyError> {
  let call!: Promise<unknown>
  const never = () => {
    throw new Error('fn must not run for a refused key')
  }
  try {
    call = cached(cache, key, never)
  } catch (error) {
    throw new Error(`cached() threw ${String(error)} instead of rejecting`)
  }
  let refusal: unknown
  await call.then(
    () => {
      throw new Error('the key was taken')
    },
    (error: unknown) => (refusal = error),
  )
  return refusal as InvalidKeyError
}

test('a key nested 10,000 deep is refused with InvalidKeyError, not a stack overflow', async (t) => {
  for (const [shape, key] of Object.entries({ arrays: arrays(10_000), objects: objects(10_000), mixed: mixed(10_000) })) {
    const error = await refusal(key)
    t.true(error instanceof InvalidKeyError, `${shape}: ${String(error)}`)
    t.true(error instanceof TypeError, shape)
    t.is(error.code, 'ERR_COOP_CACHE_INVALID_KEY', shape)
    t.regex(error.message, new RegExp(`^key\\S* is nested more than ${KEY_DEPTH_MAX} deep; a key is a string`), shape)
  }
  t.is(await cached(cache, 'after', () => 'the cache goes on'), 'the cache goes on')
})

test(`a key nested ${KEY_DEPTH_MAX} deep is a key; ${KEY_DEPTH_MAX + 1} deep is refused, naming where`, async (t) => {
  t.is(KEY_DEPTH_MAX, 64)
  for (const [shape, build] of Object.entries({ arrays, objects, mixed })) {
    // fine: computed once, and the same key built again is a hit
    let runs = 0
    const fn = () => `${shape} ${++runs}`
    t.is(await cached(cache, build(KEY_DEPTH_MAX), fn), `${shape} 1`)
    t.is(await cached(cache, build(KEY_DEPTH_MAX), fn), `${shape} 1`)
    t.is(runs, 1)
    const error = await refusal(build(KEY_DEPTH_MAX + 1))
    t.true(error instanceof InvalidKeyError, `${shape}: ${String(error)}`)
    t.is(error.code, 'ERR_COOP_CACHE_INVALID_KEY')
  }
  // The path names the part at depth 65: key, then 64 steps down.
  const error = await refusal(arrays(KEY_DEPTH_MAX + 1))
  t.is(error.path, `key${'[0]'.repeat(KEY_DEPTH_MAX)}`)
  t.is(error.message.slice(0, error.message.indexOf(';')), `${error.path} is nested more than ${KEY_DEPTH_MAX} deep`)
  t.is((await refusal(objects(KEY_DEPTH_MAX + 1))).path, `key${'.a'.repeat(KEY_DEPTH_MAX)}`)
})
