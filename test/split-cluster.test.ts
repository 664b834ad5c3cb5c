// A process of the cluster that its peers cannot read (another secret, none where they have one,
// another wire version: a key rotated wrong, a deploy half done) is refused like any forgery, and
// the cluster goes on in two, each side deaf to the other's resets. That is the operator's to
// mend, so every process that hears such messages of its own cache says so, once; junk and other
// caches' messages say nothing.
import test, { type ExecutionContext } from 'ava'
import { randomUUID } from 'node:crypto'
import { serialize } from 'node:v8'
import { createCache, memoryBus, type CacheOptions, type MemoryBus } from 'coop-cache'
import { Seal, WIRE_VERSION } from '../src/peer/seal.js'
import { eventually, sleep } from './helpers/cluster.js'

const HEARTBEAT = 50
const A_SECRET = 'the first secret, 32 bytes long.'
const ANOTHER = 'another secret, also 32 bytes ok'

function splitWarnings(t: ExecutionContext): string[] {
  const said: string[] = []
  const listen = (w: Error & { code?: string }) => void (w.code === 'COOP_CACHE_SPLIT' && said.push(w.message))
  process.on('warning', listen)
  t.teardown(() => void process.off('warning', listen))
  return said
}

async function cacheOn(t: ExecutionContext, bus: MemoryBus, name: string, options: Partial<CacheOptions> = {}) {
  const cache = await createCache({ name, bus, threads: 1, heartbeat: HEARTBEAT, peerTimeout: 1000, ...options })
  t.teardown(() => cache.close())
  return cache
}

test.serial('processes of one cache given different secrets each warn, once, that the cluster is split', async (t) => {
  const said = splitWarnings(t)
  const bus = memoryBus()
  const name = `split-secret-${randomUUID().slice(0, 8)}`
  const a = await cacheOn(t, bus, name, { secret: A_SECRET })
  const b = await cacheOn(t, bus, name, { secret: ANOTHER })
  await sleep(10 * HEARTBEAT)
  t.deepEqual([(await a.stats({ local: true })).peers, (await b.stats({ local: true })).peers], [1, 1], 'each is a cluster of its own')
  t.is(said.length, 2, said.join('\n'))
  for (const message of said) t.regex(message, /hears messages of its own cache that it refuses: it is signed with a secret this process does not have\. If they come from a process of this cluster, the cluster is split/)
})

test.serial('a process with a secret and one without refuse each other, and each warns that the cluster is split', async (t) => {
  const said = splitWarnings(t)
  const bus = memoryBus()
  const name = `split-unsigned-${randomUUID().slice(0, 8)}`
  const signed = await cacheOn(t, bus, name, { secret: A_SECRET })
  const unsigned = await cacheOn(t, bus, name)
  await eventually(t, () => 'two warnings', () => said.length >= 2, 2000)
  await sleep(5 * HEARTBEAT)
  t.is(said.length, 2, said.join('\n'))
  t.true(said.some((m) => m.includes('it is not signed, and this process has a secret')), said.join('\n'))
  t.true(said.some((m) => m.includes('it is signed, and this process has no secret')), said.join('\n'))
  // Neither counts the other: the one without a secret does not ask the other for keys it would never answer.
  t.deepEqual([(await signed.stats({ local: true })).peers, (await unsigned.stats({ local: true })).peers], [1, 1])
})

test.serial('a message of the cache in another wire version warns once; junk and other caches\' messages do not', async (t) => {
  const said = splitWarnings(t)
  const bus = memoryBus()
  const name = `split-wire-${randomUUID().slice(0, 8)}`
  await cacheOn(t, bus, name)
  const sender = await bus.join(name, 'another-build', () => {})
  t.teardown(() => sender.leave())
  const envelope = (version: number, payload: unknown) => {
    const bytes = new Seal(name, []).seal(serialize(payload))
    bytes[0] = version
    return bytes
  }
  const hello = (c: string) => ({ c, f: 'another-build', q: 1, ts: Date.now(), to: '', t: 'hello' })
  const junk = [
    new Uint8Array([WIRE_VERSION - 1]),
    new Uint8Array([WIRE_VERSION - 1, 7, 1, 2, 3]),
    envelope(WIRE_VERSION - 1, 'not a message'),
    envelope(WIRE_VERSION - 1, hello('another-cache')),
    envelope(WIRE_VERSION + 1, [hello('another-cache'), hello(name)]),
    envelope(WIRE_VERSION - 1, new Uint8Array(64)),
  ]
  for (const bytes of junk) await sender.broadcast(bytes)
  await sleep(5 * HEARTBEAT)
  t.deepEqual(said, [], 'junk, or another cache\'s messages, warned')
  await sender.broadcast(envelope(WIRE_VERSION - 1, hello(name)))
  await sender.broadcast(envelope(WIRE_VERSION + 1, [hello(name), hello(name)]))
  await eventually(t, () => 'a warning', () => said.length > 0, 2000)
  await sleep(5 * HEARTBEAT)
  t.is(said.length, 1, said.join('\n'))
  t.regex(said[0] as string, new RegExp(`it is of wire version ${WIRE_VERSION - 1}, this process of ${WIRE_VERSION}\\. If they come from a process of this cluster, the cluster is split`))
})
