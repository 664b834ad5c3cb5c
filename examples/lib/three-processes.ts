// Three processes, one cache, over a broker: each process asks for the same cold keys at the
// same moment, and each key is computed once in all three; then one process resets, and the
// other two move to the new version. The processes could be on three machines: all they share
// is the server. examples/nats.ts and examples/redis.ts run this with their bus.
//
// The script is all three processes: the first forks the other two, tells each what to do
// over the IPC channel that forking gives, and prints what they answer. The cache itself uses
// only the broker.
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { createCache, cached, reset, type Cache } from 'coop-cache'
import type { Bus } from 'coop-cache'

/** The broker the three processes share, and how to reach it. */
export interface Broker {
  /** e.g. 'NATS' */
  readonly name: string
  /** where it is, for the first line printed */
  readonly where: string
  /** what to tell a user whose broker is not reachable */
  readonly hint: string
  bus(): Bus
}

const PROCESSES = 3
const KEYS = 6
const CALLS = 100 // in each process

type Command = { cmd: 'ask' } | { cmd: 'reset'; version: string } | { cmd: 'version' } | { cmd: 'close' }
type Answer = { computations: number } | { version: unknown; heard: unknown[] } | { done: true }

// A name of this run's own: two runs at once on one server are two clusters.
const [who = '1', name = `reports-${process.pid}`] = process.argv.slice(2)
// Every message on the broker is signed with a secret the three share, so nobody else who can
// publish there can reset the cache or answer for it. In production it comes from your secret
// store (32 random bytes); here the first process makes one and hands it to the others.
if (process.env.REPORTS_SECRET === undefined) process.env.REPORTS_SECRET = randomBytes(32).toString('base64')
const secret = process.env.REPORTS_SECRET

let computations = 0
// The versions onReset was told of: from a reset here or in another process.
const heard: unknown[] = []

// The expensive work worth caching; it counts its runs.
async function report(id: number, version: unknown): Promise<{ id: number; version: unknown; by: string }> {
  computations++
  await sleep(100)
  return { id, version, by: `process ${who}` }
}

let c: Cache
let watchdog: NodeJS.Timeout

/**
 * Runs this script as one of the three processes: without arguments it is the first, and forks
 * the other two (the same script, with `<n> <cache name>`).
 */
export async function threeProcesses(broker: Broker): Promise<void> {
  // Nothing here should take long: a hang is reported, not waited for.
  watchdog = setTimeout(() => fail('timed out after 30 s'), 30_000)
  try {
    // threads: 1, as three processes already share this machine's cores.
    c = await createCache({ name, version: 'v1', bus: broker.bus(), threads: 1, secret, onReset: (v) => heard.push(v) })
  } catch (error) {
    // The bus's error says where it tried, e.g. "natsBus cannot connect to NATS at ...: connection refused"
    console.error(`process ${who}: ${(error as Error).message}`)
    console.error(broker.hint)
    process.exit(1)
  }

  /** What this process does when told. */
  async function handle(command: Command): Promise<Answer> {
    switch (command.cmd) {
      case 'ask': {
        // CALLS callers at once, spread over the KEYS keys.
        const before = computations
        await Promise.all(Array.from({ length: CALLS }, (_, i) => cached(c, ['report', i % KEYS], ({ version }) => report(i % KEYS, version))))
        return { computations: computations - before }
      }
      case 'reset':
        // Resolves when every live process has taken the new version.
        await reset(c, command.version)
        return { done: true }
      case 'version':
        return { version: c.version, heard }
      case 'close':
        // Says bye on the bus, so the others take this process's keys at once.
        await c.close()
        return { done: true }
    }
  }

  if (who !== '1') {
    // One of the forked processes: do what the first one says.
    process.on('message', async (command: Command) => {
      process.send!(await handle(command))
      if (command.cmd === 'close') {
        clearTimeout(watchdog)
        process.disconnect()
      }
    })
    await ready()
    process.send!({ done: true } satisfies Answer)
  } else {
    const children = Array.from({ length: PROCESSES - 1 }, (_, i) => fork(process.argv[1] as string, [String(i + 2), name]))
    for (const child of children) {
      child.on('exit', (code) => {
        if (code !== 0) fail(`a forked process exited with code ${code}`)
      })
    }
    // Each process answers once it sees the other two.
    await Promise.all([ready(), ...children.map((child) => answer(child))])
    const all = (command: Command) => Promise.all([handle(command), ...children.map((child) => tell(child, command))])
    console.log(`${PROCESSES} processes share cache "${name}" over ${broker.name} at ${broker.where}`)

    const round = async (label: string) => {
      const counts = ((await all({ cmd: 'ask' })) as { computations: number }[]).map((a) => a.computations)
      const total = counts.reduce((a, b) => a + b, 0)
      const each = counts.map((n, i) => `process ${i + 1}: ${n}`).join(', ')
      console.log(`${label}${PROCESSES * CALLS} calls (${CALLS} in each process) for ${KEYS} cold keys: ${total} computations in all (${each})`)
    }
    await round('')

    // Process 2 resets; processes 1 and 3 hear of it over the broker.
    await tell(children[0]!, { cmd: 'reset', version: 'v2' })
    const versions = (await all({ cmd: 'version' })) as { version: unknown; heard: unknown[] }[]
    console.log(
      `process 2 reset the cache to v2: ${versions.map((v, i) => `process ${i + 1} is on ${String(v.version)}${i !== 1 && v.heard.includes('v2') ? ' (onReset told it)' : ''}`).join(', ')}`,
    )
    await round('after the reset: ')

    await all({ cmd: 'close' })
    await Promise.all(children.map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)))
    clearTimeout(watchdog)
  }
}

/**
 * Resolves once this process sees all the others: before that, a process that does not know
 * them yet would compute every key itself.
 */
async function ready(): Promise<void> {
  while ((await c.stats({ local: true })).peers < PROCESSES) await sleep(50)
}

/** The next answer of `child`. */
function answer(child: ChildProcess): Promise<Answer> {
  return once(child, 'message').then(([message]) => message as Answer)
}

/** Tells `child` to do `command`; resolves with its answer. */
function tell(child: ChildProcess, command: Command): Promise<Answer> {
  const answered = answer(child)
  child.send(command)
  return answered
}

function fail(why: string): never {
  console.error(`process ${who}: ${why}`)
  process.exit(1)
}
