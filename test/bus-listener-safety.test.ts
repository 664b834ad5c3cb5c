// A member's receive callback that throws must cost that message and nothing more: not the
// process (ioredis would rethrow it as an uncaught exception), not the subscription (the NATS
// client would end it), not the other members. Checked on the machine's brokers.
import type { ExecutionContext } from 'ava'
import { randomBytes } from 'node:crypto'
import { setImmediate } from 'node:timers/promises'
import { natsBus, type NatsBus } from '../src/bus/nats.js'
import { redisBus, type RedisBus } from '../src/bus/redis.js'
import { brokerTest, brokerUrl } from './helpers/brokers.js'

// Asked before any test is declared: ava takes no declaration after the file's first tick.
const natsTest = await brokerTest('nats')
const redisTest = await brokerTest('redis')

const CODE = 'COOP_CACHE_BUS_LISTENER_THREW'

/** Resolves once `done()` holds; throws saying `what` if it does not within 5 s. */
async function arrived(what: string, done: () => boolean): Promise<void> {
  for (const end = Date.now() + 5000; !done(); await new Promise((resolve) => setTimeout(resolve, 5))) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`)
  }
}

/** The warnings with our code whose message mentions `mark`, from now until the test ends. */
function warningsAbout(t: ExecutionContext, mark: string): Error[] {
  const seen: Error[] = []
  const listen = (warning: Error & { code?: string }) => {
    if (warning.code === CODE && warning.message.includes(mark)) seen.push(warning)
  }
  process.on('warning', listen)
  t.teardown(() => void process.off('warning', listen))
  return seen
}

const buses: [string, typeof natsTest, () => NatsBus | RedisBus][] = [
  ['nats', natsTest, () => natsBus({ servers: brokerUrl.nats })],
  ['redis', redisTest, () => redisBus({ url: brokerUrl.redis })],
]

for (const [name, declare, make] of buses) {
  const topic = (what: string) => `${what}-${randomBytes(4).toString('hex')}`

  declare(`${name}: a receive that throws on every message loses only those messages; later ones reach it and the other members, each throw is counted, and one warning says so`, async (t) => {
    const mark = `receive broke ${randomBytes(4).toString('hex')}`
    const warnings = warningsAbout(t, mark)
    const bus = make()
    const other = make()
    const bad: number[] = []
    const near: number[] = [] // a member of the same bus: it shares the thrower's subscription on Redis
    const far: number[] = []
    const here = topic('throws')
    const members = [
      await bus.join(here, 'bad', (m) => {
        bad.push(m[0]!)
        throw new Error(mark)
      }),
      await bus.join(here, 'near', (m) => near.push(m[0]!)),
      await other.join(here, 'far', (m) => far.push(m[0]!)),
    ]
    t.teardown(() => Promise.all(members.map((m) => m.leave())))
    const sender = members[2]!

    sender.broadcast(new Uint8Array([1]))
    await arrived('the first broadcast has reached every member', () => bad.length === 1 && near.length === 1 && far.length === 1)
    // After the first throw: broadcasts, and a message to the thrower's own subject or channel.
    sender.broadcast(new Uint8Array([2]))
    sender.send('bad', new Uint8Array([3]))
    sender.broadcast(new Uint8Array([4]))
    await arrived('the later messages have reached every member', () => bad.length === 4 && near.length === 3 && far.length === 3)
    await setImmediate() // a warning is emitted on the next tick

    t.deepEqual(bad.sort(), [1, 2, 3, 4])
    t.deepEqual(near.sort(), [1, 2, 4])
    t.deepEqual(far.sort(), [1, 2, 4])
    t.is(bus.listenerErrors, 4)
    t.is(other.listenerErrors, 0)
    t.is(warnings.length, 1, 'one warning for the bus, however many throws')
    t.regex(warnings[0]!.message, new RegExp(`^coop-cache: a receive callback on a ${name}Bus threw \\(Error: ${mark}\\)`))
  })

  declare(`${name}: a receive that returns a rejected promise is counted and warned about like one that throws`, async (t) => {
    const mark = `receive rejected ${randomBytes(4).toString('hex')}`
    const warnings = warningsAbout(t, mark)
    const bus = make()
    const heard: number[] = []
    const member = await bus.join(topic('rejects'), 'p', async (m) => {
      heard.push(m[0]!)
      throw new Error(mark)
    })
    t.teardown(() => member.leave())
    member.broadcast(new Uint8Array([1]))
    member.broadcast(new Uint8Array([2]))
    await arrived('both broadcasts are counted', () => bus.listenerErrors === 2)
    await setImmediate()
    t.deepEqual(heard.sort(), [1, 2])
    t.is(warnings.length, 1)
  })
}
