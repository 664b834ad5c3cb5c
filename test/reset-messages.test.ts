// A reset is sent to the peers at once, and so is their acknowledgement (the resetter waits for
// them), but resets made in one turn still travel together: a flush of its own for each one sent a
// bus message per reset, and a peer answered an envelope of N resets with N messages.
import test from 'ava'
import { createCache, memoryBus, reset, type Bus, type BusMember, type Cache } from 'coop-cache'

const HEARTBEAT = 100

/** A bus that counts the messages each member sends (broadcasts and sends alike). */
function countingBus(inner: Bus): { bus: Bus; sent: Map<string, number> } {
  const sent = new Map<string, number>()
  const bus: Bus = {
    async join(topic, peer, receive) {
      const member = await inner.join(topic, peer, receive)
      const count = () => sent.set(peer, (sent.get(peer) ?? 0) + 1)
      const counted: BusMember = {
        broadcast: (message) => {
          count()
          member.broadcast(message)
        },
        send: (to, message) => {
          count()
          member.send(to, message)
        },
        leave: () => member.leave(),
        ...(member.maxMessage !== undefined ? { maxMessage: member.maxMessage } : {}),
      }
      return counted
    },
  }
  return { bus, sent }
}

test('resets made in one turn go to the peers in a few bus messages, and so do their acknowledgements', async (t) => {
  const { bus, sent } = countingBus(memoryBus())
  const name = `reset-messages-${process.pid}`
  const caches: Cache[] = []
  t.teardown(() => Promise.all(caches.map((cache) => cache.close())))
  for (let i = 0; i < 2; i++) caches.push(await createCache({ name, bus, threads: 1, heartbeat: HEARTBEAT, peerTimeout: 1000 }))
  const [a, b] = caches as [Cache, Cache]
  await Promise.all(caches.map((cache) => cache.ready({ peers: 2 })))
  // Let the joins' greetings pass.
  await new Promise((resolve) => setTimeout(resolve, 200))
  const peerA = a.peer as string
  const peerB = b.peer as string
  const before = { a: sent.get(peerA) ?? 0, b: sent.get(peerB) ?? 0 }

  const resets = 200
  const began = performance.now()
  await Promise.all(Array.from({ length: resets }, (_, i) => reset(a, `v${i}`)))
  const after = { a: (sent.get(peerA) ?? 0) - before.a, b: (sent.get(peerB) ?? 0) - before.b }
  const elapsed = performance.now() - began
  t.log(`${resets} resets in one turn, resolved in ${Math.round(elapsed)} ms: ${after.a} messages from the resetter, ${after.b} from its peer`)
  t.is(b.version, `v${resets - 1}`)
  // A few, and each peer's beats meanwhile (one per heartbeat); one message per reset would be 200.
  const allowed = 4 + 2 * Math.ceil(elapsed / HEARTBEAT)
  t.true(after.a <= allowed, `the resetter sent ${after.a} messages for ${resets} resets`)
  t.true(after.b <= allowed, `the peer sent ${after.b} messages acknowledging ${resets} resets`)
})
