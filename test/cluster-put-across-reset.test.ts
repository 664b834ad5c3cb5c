// Nobody hangs (guarantee 3) when a reset lands between a peer's put reaching this process's agent
// and reaching the owner thread it is for. Found by stats-exact.test.ts (quick resets during a
// stampede over two memoryBus peers left calls unsettled for good, 1 run in 3 on a loaded
// machine): the agent forgets a relayed request once it has passed its put on; the owner, now in
// the new epoch, refuses the put and places the request again — as the computer of its flight,
// which then waits for a computation nobody will make, and every later call for the key, in
// either process, waits with it. Here the reset is made at that very moment, on purpose: a bus
// wrapper resets b as soon as b's agent has handled a's put.
import test from 'ava'
import { randomUUID } from 'node:crypto'
import { cached, createCache, memoryBus, reset, type Bus, type Cache } from 'coop-cache'
import { encodeKey } from '../src/shared/key.js'
import { peerOf } from '../src/shared/ring.js'
import { eventually, within } from './helpers/cluster.js'
import { messagesOf } from './helpers/envelope.js'

type Heard = { readonly t?: string; readonly k?: string }

/** `inner`, with `after` called each time a member has handled a message, with what it was. */
function hooked(inner: Bus, after: (peer: string, heard: Heard) => void): Bus {
  return {
    join: (topic, peer, receive) =>
      inner.join(topic, peer, (bytes) => {
        receive(bytes)
        // an envelope may hold several messages (its sender's turn): each was handled
        for (const heard of messagesOf(bytes)) after(peer, heard as Heard)
      }),
  }
}

test('a peer\'s put that its owner takes after a reset leaves no request computing forever', async (t) => {
  let onHeard: ((peer: string, heard: Heard) => void) | undefined
  const bus = hooked(memoryBus(), (peer, heard) => onHeard?.(peer, heard))
  const name = `put-across-reset-${randomUUID().slice(0, 8)}`
  const options = { name, bus, threads: 1, heartbeat: 50, peerTimeout: 1000 }
  const [a, b] = (await Promise.all([createCache(options), createCache(options)])) as [Cache, Cache]
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  await eventually(t, () => 'the two peers to see each other', async () => (await a.stats({ local: true })).peers === 2 && (await b.stats({ local: true })).peers === 2)
  const ids = [a.peer as string, b.peer as string].sort()
  const keys = Array.from({ length: 80 }, (_, i) => `k${i}`).filter((key) => peerOf(encodeKey(key), ids) === b.peer).slice(0, 10)
  const valueOf = (cache: Cache, key: string) => cached(cache, key, ({ version }) => `${key}@${String(version)}`)
  for (const [i, key] of keys.entries()) {
    const version = `after-put-${i}`
    // b owns the key; a asks first, so b's owner has a's request compute it. The moment b's
    // agent has passed a's put on to the owner, b resets: the owner sees the reset first.
    let resetAt: Promise<void> | undefined
    onHeard = (peer, heard) => {
      if (peer !== b.peer || heard.t !== 'put' || heard.k !== key) return
      onHeard = undefined
      resetAt = reset(b, version)
    }
    t.regex(await within(valueOf(a, key), 3000, `a's first call for ${key}`), new RegExp(`^${key}@`))
    await eventually(t, () => `b to receive a's put for ${key}`, () => resetAt !== undefined, 3000)
    await within(resetAt as Promise<void>, 3000, `b's reset after the put for ${key}`)
    await eventually(t, () => `a to take ${version}`, () => a.version === version, 3000)
    // Every later call for the key, in either process, gets a value of the new version.
    t.is(await within(valueOf(b, key), 3000, `b's call for ${key} after the reset`), `${key}@${version}`)
    t.is(await within(valueOf(a, key), 3000, `a's call for ${key} after the reset`), `${key}@${version}`)
  }
})
