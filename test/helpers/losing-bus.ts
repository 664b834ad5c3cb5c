// A memoryBus whose peers can lose it, each at a time of its own, as the clients of a dying broker
// do not all lose it at once: from then on what a peer sends is lost, and so is what is sent to it.
// A peer can also go deaf to the others (it hears only its own messages), or read theirs late (its
// thread starved of the CPU while they wait in its socket).
import type { ExecutionContext } from 'ava'
import { cached, memoryBus, type Bus } from 'coop-cache'
import { messagesOf } from './envelope.js'
import { peers, type Member } from './pair.js'

export interface LosingBus {
  readonly bus: Bus
  /** `peer` loses the bus at `at` (a Date.now() time). */
  lose(peer: string, at: number): void
  /** From `at`, `peer` hears no other peer's message: only its own come back to it. */
  deafen(peer: string, at: number): void
  /** From now, `peer` reads every other peer's message `ms` late: one already on its way when it loses the bus still reaches it. */
  late(peer: string, ms: number): void
}

export function losingBus(): LosingBus {
  const inner = memoryBus()
  const lostAt = new Map<string, number>()
  const deafAt = new Map<string, number>()
  const lateBy = new Map<string, number>()
  const lost = (peer: string) => (lostAt.get(peer) ?? Infinity) <= Date.now()
  const deaf = (peer: string) => (deafAt.get(peer) ?? Infinity) <= Date.now()
  const bus: Bus = {
    async join(topic, peer, receive) {
      const member = await inner.join(topic, peer, (envelope) => {
        const own = messagesOf(envelope)[0]?.f === peer
        if (lost(peer) || (deaf(peer) && !own)) return
        const by = own ? 0 : (lateBy.get(peer) ?? 0)
        if (by > 0) setTimeout(() => receive(envelope), by)
        else receive(envelope)
      })
      return {
        broadcast: (envelope) => void (lost(peer) ? undefined : member.broadcast(envelope)),
        send: (to, envelope) => void (lost(peer) ? undefined : member.send(to, envelope)),
        leave: () => member.leave(),
      }
    },
  }
  return {
    bus,
    lose: (peer, at) => void lostAt.set(peer, at),
    deafen: (peer, at) => void deafAt.set(peer, at),
    late: (peer, ms) => void lateBy.set(peer, ms),
  }
}

/**
 * Three peers on a losing bus, the second and third each holding a key of its own with `value`
 * stored. `loseIt()` makes the first lose the bus now (or, with `deafFor`, hear only its own
 * messages from now and lose the bus that much later), and the others `later` ms after now
 * (300 by default); it returns now.
 */
export async function losingFirst(t: ExecutionContext, word: string, value: string) {
  const { bus, lose, deafen } = losingBus()
  const cluster = await peers(t, word, 3, { bus, replicas: 1, heartbeat: 50, peerTimeout: 1000 })
  const [first, ...later] = cluster.members as [Member, Member, Member]
  const keys = later.map((member) => cluster.keysOf(member, 1, `${word}-`)[0] as string)
  for (const [i, member] of later.entries()) {
    t.is(await cached(member.cache, keys[i] as string, () => value), value)
    t.is(await cached(member.cache, keys[i] as string, () => 'computed again'), value, 'the value is stored')
  }
  const loseIt = ({ deafFor = 0, later: after = 300 } = {}) => {
    const start = Date.now()
    deafen(first.cache.peer as string, start)
    lose(first.cache.peer as string, start + deafFor)
    for (const member of later) lose(member.cache.peer as string, start + after)
    return start
  }
  return { first, later, keys, loseIt }
}
