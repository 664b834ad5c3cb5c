// The own-brokers helper does what tests that break brokers rely on: kill ends the server and
// frees its port, restart brings the same server back on the same port with the same args.
import test from 'ava'
import { redisBus } from '../src/bus/redis.js'
import { accepts, startNats, startRedis } from './helpers/own-brokers.js'

/** Whether the process `pid` is alive. */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

for (const [name, start] of [['redis', startRedis], ['nats', startNats]] as const) {
  test(`${name}: kill resolves once the server has exited and its port refuses; a second kill is harmless`, async (t) => {
    const broker = await start(t)
    const pid = broker.pid
    t.true(await accepts(broker.port))
    await broker.kill()
    t.false(alive(pid))
    t.false(await accepts(broker.port))
    await t.notThrowsAsync(broker.kill())
  })

  test(`${name}: restart brings the server back on the same port with a new pid, from running or from killed`, async (t) => {
    const broker = await start(t)
    const first = broker.pid
    await broker.restart()
    t.not(broker.pid, first)
    t.false(alive(first))
    t.true(await accepts(broker.port))
    await broker.kill()
    await broker.restart()
    t.true(await accepts(broker.port))
    t.true(broker.url.endsWith(`:${broker.port}`))
  })
}

test('redis: a restarted server keeps its args (a password is still required)', async (t) => {
  const broker = await startRedis(t, { args: ['--requirepass', 's3cret'] })
  await broker.restart()
  await t.throwsAsync(redisBus({ url: broker.url }).join('t', 'p', () => {}), { code: 'ERR_COOP_CACHE_BUS_UNREACHABLE' })
  const member = await redisBus({ url: broker.url, redis: { password: 's3cret' } }).join('t', 'p', () => {})
  await member.leave()
  t.pass()
})

test('a server that cannot start rejects, saying what it printed', async (t) => {
  await t.throwsAsync(startRedis(t, { args: ['--no-such-directive', 'yes'] }), {
    message: /^redis-server --port \d+ .* exited before it accepted connections on port \d+:\n[^]*Bad directive/,
  })
})
