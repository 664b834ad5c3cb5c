// The broker's own access control works through the buses: natsBus and redisBus pass the
// clients' options (a user and password, a token, ACL users) through, join a server that
// requires them, and without them reject with ERR_COOP_CACHE_BUS_UNREACHABLE, never showing a
// password. Each test starts a broker of its own, set up the way it needs.
import test, { type ExecutionContext } from 'ava'
import { usernamePasswordAuthenticator } from '@nats-io/transport-node'
import { randomBytes } from 'node:crypto'
import type { Bus, BusMember } from '../src/bus/bus.js'
import { natsBus } from '../src/bus/nats.js'
import { redisBus } from '../src/bus/redis.js'
import { startNats, startRedis } from './helpers/own-brokers.js'

const UNREACHABLE = 'ERR_COOP_CACHE_BUS_UNREACHABLE'

/** Joins one member on each of two buses made by `make`; one broadcasts, and both must hear it. */
async function broadcastGoesRound(t: ExecutionContext, make: () => Bus): Promise<void> {
  t.timeout(10_000)
  const topic = `auth-${randomBytes(4).toString('hex')}`
  const heard: Promise<Uint8Array>[] = []
  const members: BusMember[] = []
  for (const bus of [make(), make()]) {
    let receive!: (message: Uint8Array) => void
    heard.push(new Promise((resolve) => { receive = resolve }))
    members.push(await bus.join(topic, `p${members.length}`, (m) => receive(m)))
  }
  t.teardown(() => Promise.all(members.map((m) => m.leave())))
  members[0]!.broadcast(new Uint8Array([42]))
  t.deepEqual(await Promise.all(heard), [new Uint8Array([42]), new Uint8Array([42])])
}

test('nats: natsBus joins a server that requires a user and password when given them in options.connection, and a broadcast goes round', async (t) => {
  const nats = await startNats(t, { args: ['--user', 'coop', '--pass', 's3cret'] })
  await broadcastGoesRound(t, () => natsBus({ servers: nats.url, connection: { user: 'coop', pass: 's3cret' } }))
})

test('nats: natsBus takes an authenticator from the client, such as usernamePasswordAuthenticator', async (t) => {
  const nats = await startNats(t, { args: ['--user', 'coop', '--pass', 's3cret'] })
  await broadcastGoesRound(t, () => natsBus({ servers: nats.url, connection: { authenticator: usernamePasswordAuthenticator('coop', 's3cret') } }))
})

test('nats: without the user and password, or with a wrong one, join rejects with ERR_COOP_CACHE_BUS_UNREACHABLE naming the server', async (t) => {
  const nats = await startNats(t, { args: ['--user', 'coop', '--pass', 's3cret'] })
  const where = `127\\.0\\.0\\.1:${nats.port}`
  for (const connection of [undefined, { user: 'coop', pass: 'wrong-pass' }]) {
    const error = await t.throwsAsync(natsBus({ servers: nats.url, connection }).join('t', 'p', () => {}), {
      code: UNREACHABLE,
      message: new RegExp(`^natsBus cannot connect to NATS at nats://${where}: \\S`),
    })
    t.truthy(error?.cause, 'the client\'s error is the cause')
    t.false(error?.message.includes('wrong-pass'), 'the message shows no password')
  }
})

test('nats: natsBus joins a server that requires a token when given it in options.connection; without it, join rejects with ERR_COOP_CACHE_BUS_UNREACHABLE', async (t) => {
  const nats = await startNats(t, { args: ['--auth', 'tok3n'] })
  await broadcastGoesRound(t, () => natsBus({ servers: nats.url, connection: { token: 'tok3n' } }))
  await t.throwsAsync(natsBus({ servers: nats.url }).join('t', 'p', () => {}), { code: UNREACHABLE })
})

test('nats: the servers of natsBus\'s own options take precedence over servers and port in options.connection', async (t) => {
  const nats = await startNats(t)
  await broadcastGoesRound(t, () => natsBus({ servers: nats.url, connection: { servers: '127.0.0.1:1', port: 1 } }))
})

test('redis: redisBus joins a server with requirepass when given the password in options.redis, and a broadcast goes round', async (t) => {
  const redis = await startRedis(t, { args: ['--requirepass', 's3cret'] })
  await broadcastGoesRound(t, () => redisBus({ url: redis.url, redis: { password: 's3cret' } }))
})

test('redis: without the password, or with a wrong one, join rejects with ERR_COOP_CACHE_BUS_UNREACHABLE, and the message shows no password', async (t) => {
  const redis = await startRedis(t, { args: ['--requirepass', 's3cret'] })
  const where = `redis://127\\.0\\.0\\.1:${redis.port}`
  for (const options of [undefined, { password: 'wrong-pass' }]) {
    const error = await t.throwsAsync(redisBus({ url: redis.url, redis: options }).join('t', 'p', () => {}), {
      code: UNREACHABLE,
      message: new RegExp(`^redisBus cannot connect to Redis at ${where}: \\S`),
    })
    t.truthy(error?.cause, 'the client\'s error is the cause')
    t.false(/s3cret|wrong-pass/.test(error?.message ?? ''), 'the message shows no password')
  }
})

test('redis: where the url and options.redis both give a password, the url\'s is used, and neither shows in the message', async (t) => {
  const redis = await startRedis(t, { args: ['--requirepass', 's3cret'] })
  const url = `redis://:wrong-pass@127.0.0.1:${redis.port}`
  const error = await t.throwsAsync(redisBus({ url, redis: { password: 's3cret' } }).join('t', 'p', () => {}), {
    code: UNREACHABLE,
    message: new RegExp(`^redisBus cannot connect to Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}: WRONGPASS`),
  })
  t.false(/s3cret|wrong-pass/.test(error?.message ?? ''))
})

test('redis: redisBus joins a server whose only user is an ACL user when given username and password in options.redis; without them, join rejects with ERR_COOP_CACHE_BUS_UNREACHABLE', async (t) => {
  const redis = await startRedis(t, { args: ['--user', 'alice', 'on', '>s3cret', '~*', '&*', '+@all', '--user', 'default', 'off'] })
  await broadcastGoesRound(t, () => redisBus({ url: redis.url, redis: { username: 'alice', password: 's3cret' } }))
  for (const options of [undefined, { username: 'alice', password: 'wrong-pass' }]) {
    const error = await t.throwsAsync(redisBus({ url: redis.url, redis: options }).join('t', 'p', () => {}), { code: UNREACHABLE })
    t.false(/s3cret|wrong-pass/.test(error?.message ?? ''), 'the message shows no password')
  }
})

test('options.connection and options.redis must be objects: anything else is a TypeError that names the option', (t) => {
  for (const connection of [null, 'user:pass', ['user']]) {
    // @ts-expect-error: not connection options
    t.throws(() => natsBus({ servers: '127.0.0.1:4222', connection }), { instanceOf: TypeError, message: /^options\.connection must be an object/ })
  }
  for (const redis of [null, 'password', ['password']]) {
    // @ts-expect-error: not Redis options
    t.throws(() => redisBus({ url: 'redis://127.0.0.1:6379', redis }), { instanceOf: TypeError, message: /^options\.redis must be an object/ })
  }
})
