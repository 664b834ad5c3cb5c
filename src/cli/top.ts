// `coop-cache top`: watches a cache's processes on NATS or Redis, as an observer that no peer
// counts (observe/observer.ts), and shows them refreshing in the terminal, or prints one
// snapshot as JSON for a script. This file only reads the arguments and draws.
import { parseArgs } from 'node:util'
import logUpdate from 'log-update'
import type { Bus } from '../bus/bus.js'
import { natsBus } from '../bus/nats.js'
import { redisBus } from '../bus/redis.js'
import { secretsOf } from '../host/options.js'
import { observe, type Observer } from '../observe/observer.js'
import { jsonOf, render, shownUrl } from './table.js'

const HELP = `Usage: coop-cache top (--redis <url> | --nats <url>) --name <cache> [options]

Shows each process of cache <cache>, refreshing: its id, host and pid, version,
epoch, entries, bytes against its memory limit, hit ratio, computations per
second, and how long ago its last heartbeat was heard. It only listens: no
process of the cache counts it as a member. Ctrl-C ends it.

Options:
  --redis <url>     the Redis server the cache is on (redis://host:6379)
  --nats <url>      the NATS server the cache is on (nats://host:4222)
  --name <cache>    the cache's name, as given to createCache
  --secret <s>      the cache's secret, for a cache created with one
                    (or the environment variable COOP_CACHE_SECRET)
  --json            print one snapshot as JSON and exit
  --wait <ms>       with --json: how long to listen first; make it more than
                    the cache's heartbeat (default 1000)
  --timeout <ms>    a process silent this long is no longer shown (default:
                    each process's own peerTimeout, which its beats carry)
  -h, --help        this text

On an ipc bus (node:cluster, child_process.fork), watch from the primary with
the API: import { observe } from 'coop-cache/observe'.`

/** How often the live view is drawn again, in ms. */
const REFRESH = 500
/** The exit code for arguments that are wrong. */
const USAGE = 2

class UsageError extends Error {}

interface Settings {
  readonly bus: 'redis' | 'nats'
  readonly url: string
  readonly name: string
  readonly secret: string | undefined
  readonly json: boolean
  readonly wait: number
  readonly timeout: number | undefined
}

/** Runs `coop-cache top` with `argv` (the arguments after `top`); resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let settings: Settings | 'help'
  try {
    settings = settingsOf(argv)
  } catch (error) {
    if (!(error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) throw error
    console.error(`coop-cache top: ${(error as Error).message}\nSee: coop-cache top --help`)
    return USAGE
  }
  if (settings === 'help') {
    console.log(HELP)
    return 0
  }
  const bus: Bus = settings.bus === 'redis' ? redisBus({ url: settings.url }) : natsBus({ servers: settings.url })
  let observer: Observer
  try {
    observer = await observe({ name: settings.name, bus, secret: settings.secret, timeout: settings.timeout })
  } catch (error) {
    console.error(`coop-cache top: ${(error as Error).message}`)
    return 1
  }
  if (settings.json) {
    await new Promise((resolve) => setTimeout(resolve, settings.wait))
    const snapshot = observer.snapshot()
    await observer.close()
    process.stdout.write(`${JSON.stringify(jsonOf(snapshot), null, 2)}\n`)
    return 0
  }
  return live(observer, `${settings.bus} ${shownUrl(settings.url)}`)
}

/** Draws the view every REFRESH ms until Ctrl-C (or SIGTERM). */
async function live(observer: Observer, where: string): Promise<number> {
  const draw = () => logUpdate(render(observer.snapshot(), where))
  draw()
  const timer = setInterval(draw, REFRESH)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  clearInterval(timer)
  logUpdate.done()
  await observer.close()
  return 0
}

function settingsOf(argv: readonly string[]): Settings | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      redis: { type: 'string' },
      nats: { type: 'string' },
      name: { type: 'string' },
      secret: { type: 'string' },
      json: { type: 'boolean' },
      wait: { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) return 'help'
  if (values.redis !== undefined && values.nats !== undefined) throw new UsageError('--redis and --nats are exclusive: the cache is on one bus')
  const bus = values.redis !== undefined ? 'redis' : values.nats !== undefined ? 'nats' : undefined
  if (bus === undefined) throw new UsageError('no bus given: --redis <url> or --nats <url> (on an ipc bus, use the API from the cluster primary: coop-cache/observe)')
  const url = (values.redis ?? values.nats) as string
  if (url === '') throw new UsageError(`--${bus} needs a URL, such as ${bus === 'redis' ? 'redis://127.0.0.1:6379' : 'nats://127.0.0.1:4222'}`)
  if (values.name === undefined || values.name === '') throw new UsageError('--name <cache> is missing: the name the cache was created with')
  if (values.wait !== undefined && values.json !== true) throw new UsageError('--wait is for --json: the live view listens until Ctrl-C')
  const secret = values.secret ?? (process.env.COOP_CACHE_SECRET || undefined)
  try {
    secretsOf(secret)
  } catch (error) {
    const where = values.secret !== undefined ? '--secret' : 'COOP_CACHE_SECRET'
    throw new UsageError((error as Error).message.replace('options.secret', where))
  }
  return {
    bus,
    url,
    name: values.name,
    secret,
    json: values.json === true,
    wait: milliseconds('--wait', values.wait, 1000),
    timeout: values.timeout === undefined ? undefined : milliseconds('--timeout', values.timeout, 0),
  }
}

function milliseconds(option: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback
  const ms = /^\d+$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(ms) || ms < 1) throw new UsageError(`${option} must be a positive whole number of milliseconds, not ${JSON.stringify(text)}`)
  return ms
}
