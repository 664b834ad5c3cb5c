// Brokers of a test's own, each on a free port: for a test that needs a broker set up its own
// way (a password, ACL users, a token) or one it may kill and restart under traffic. The
// machine's brokers (helpers/brokers.ts) are never stopped or reconfigured by a test; these
// are the test's to break. Whatever the test does, t.teardown kills the server, and so does
// the test process's exit if teardown never runs.
import type { ExecutionContext } from 'ava'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'

/** A broker server that one test started, and owns. */
export interface OwnBroker {
  /** Where to reach it: `redis://127.0.0.1:<port>` or `nats://127.0.0.1:<port>`. */
  readonly url: string
  readonly port: number
  /** The server process's pid; a restart changes it. */
  readonly pid: number
  /** Kills the server with SIGKILL; resolves once it has exited. Harmless when it is not running. */
  kill(): Promise<void>
  /**
   * Kills the server if it runs, starts it again with the same arguments on the same port,
   * and resolves once that port accepts connections (within 5 s, else rejects).
   */
  restart(): Promise<void>
}

/** Options of {@link startRedis} and {@link startNats}. */
export interface OwnBrokerOptions {
  /** Appended to the server's command line, such as `['--requirepass', 's3cret']`. @default [] */
  readonly args?: readonly string[]
}

/** How long a server has to accept connections, after it is started, in milliseconds. */
const READY_WITHIN = 5000
/** How many free ports a first start tries: another process may take one before the server binds it. */
const PORT_TRIES = 3

/** Starts `redis-server --port P --bind 127.0.0.1 --save '' --appendonly no ...args` on a free port P. */
export function startRedis(t: ExecutionContext, options: OwnBrokerOptions = {}): Promise<OwnBroker> {
  return start(t, 'redis', (port) => ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(options.args ?? [])])
}

/** Starts `nats-server -a 127.0.0.1 -p P ...args` on a free port P. */
export function startNats(t: ExecutionContext, options: OwnBrokerOptions = {}): Promise<OwnBroker> {
  return start(t, 'nats', (port) => ['nats-server', '-a', '127.0.0.1', '-p', String(port), ...(options.args ?? [])])
}

/** One run of a server process: it, its output so far (for error messages), and its exit. */
interface Run {
  readonly child: ChildProcess
  readonly exited: Promise<void>
  output: string
}

/** Every server process started here and still running: the process's exit kills them. */
const running = new Set<ChildProcess>()
process.once('exit', () => running.forEach((child) => child.kill('SIGKILL')))

async function start(t: ExecutionContext, scheme: string, line: (port: number) => string[]): Promise<OwnBroker> {
  let port = 0
  let run: Run | undefined
  // kill and restart are queued, so that a kill never meets a start half done.
  let queue: Promise<unknown> = Promise.resolve()
  const queued = (step: () => Promise<void>) => {
    const done = queue.then(step)
    queue = done.catch(() => {})
    return done
  }
  const kill = () => queued(async () => {
    if (run !== undefined) await stop(run)
  })
  t.teardown(kill)

  for (let tries = 1; ; tries++) {
    port = await freePort()
    run = launch(line(port))
    try {
      await ready(run, port)
      break
    } catch (error) {
      await stop(run)
      if (tries === PORT_TRIES || !(error instanceof Exited)) throw error
    }
  }
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    get pid() {
      return run!.child.pid!
    },
    kill,
    restart: () => queued(async () => {
      await stop(run!)
      run = launch(line(port))
      await ready(run, port).catch(async (error: unknown) => {
        await stop(run!)
        throw error
      })
    }),
  }
}

/** The server exited before it accepted a connection (on a first start, most likely: its port was taken). */
class Exited extends Error {}

function launch([command, ...args]: string[]): Run {
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  const run: Run = {
    child,
    output: '',
    exited: new Promise((resolve) => {
      const gone = () => {
        running.delete(child)
        resolve()
      }
      // 'close', not 'exit': it comes once the output has been read to its end as well.
      child.once('close', gone)
      // A server that cannot be started at all (not installed) emits 'error' and no 'exit'.
      child.once('error', (error) => {
        run.output += `${error.message}\n`
        gone()
      })
    }),
  }
  // Read all it prints, or a full pipe would stop it; keep the end, for error messages.
  const keep = (chunk: Buffer) => { run.output = (run.output + chunk.toString()).slice(-2000) }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  return run
}

/** Resolves once `port` accepts connections; rejects when the server exits first, or after READY_WITHIN. */
async function ready(run: Run, port: number): Promise<void> {
  let exited = false
  void run.exited.then(() => { exited = true })
  const what = `${run.child.spawnfile} ${run.child.spawnargs.slice(1).join(' ')}`
  for (const end = Date.now() + READY_WITHIN; ;) {
    if (exited) throw new Exited(`${what} exited before it accepted connections on port ${port}:\n${run.output.trim()}`)
    if (await accepts(port)) return
    if (Date.now() > end) throw new Error(`${what} did not accept connections on port ${port} within ${READY_WITHIN} ms:\n${run.output.trim()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Kills the run's server with SIGKILL, unless it has exited; resolves once it has. */
async function stop(run: Run): Promise<void> {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL')
  await run.exited
}

/**
 * A port nothing listens on now, picked below the kernel's range of ephemeral ports. A port from
 * that range (the kernel's pick for port 0) can be taken between a kill and a restart as the
 * source port of any outgoing connection, and a connection to it while nothing listens can even
 * connect to itself (TCP simultaneous open): then `ready` sees a server that is not there, and the
 * server's bind fails.
 */
async function freePort(): Promise<number> {
  const low = ephemeralLow()
  for (let tries = 0; ; tries++) {
    if (tries === 1000) throw new Error(`no free port between ${PORTS_FROM} and ${low} on 127.0.0.1 in ${tries} tries`)
    const port = PORTS_FROM + Math.floor(Math.random() * (low - PORTS_FROM))
    const server = createServer()
    const bound = await new Promise<boolean>((resolve) => server.once('error', () => resolve(false)).listen(port, '127.0.0.1', () => resolve(true)))
    if (!bound) continue
    await new Promise((resolve) => server.close(resolve))
    return port
  }
}

/** The lowest port a test's own broker is given. */
const PORTS_FROM = 20000

/** The first port of the kernel's ephemeral range (Linux's default where it cannot be read). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    if (Number.isInteger(low) && low > PORTS_FROM + 1000) return low
  } catch {}
  return 32768
}

/**
 * Whether a TCP connection to 127.0.0.1:`port` opens within `ms` milliseconds. A closed port
 * refuses at once; the wait is for a loaded machine, where the test's thread may not run for a
 * while after the kernel has connected it (and a timer then fires before the connect event).
 */
export function accepts(port: number, ms = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, timeout: ms })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    // A socket connected to itself has no server behind it.
    socket.once('connect', () => done(socket.localPort !== port)).once('timeout', () => done(false)).once('error', () => done(false))
  })
}
