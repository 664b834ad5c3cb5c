import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads'
import { wrap, releaseProxy, type Remote } from 'comlink/dist/esm/comlink.mjs'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'
import { OwnerState, type SharedState } from './shared.js'
import type { OwnerControl, OwnerData } from './protocol.js'

const ownerEntry = new URL('./owner-worker.js', import.meta.url)

/** How often an owner may crash in RESTART_WINDOW ms before supervision gives up on it. */
const MAX_RESTARTS = 5
const RESTART_WINDOW = 10_000

interface Running {
  worker: Worker
  control: Remote<OwnerControl>
  crashes: number[]
  exited: boolean
}

/**
 * Starts the owners' threads in the thread that created the cache, and restarts an owner
 * whose thread dies. Callers notice through shared memory (the owner's generation and state)
 * and reconnect by themselves; entries the dead owner held are gone, and given back.
 */
export class Supervisor {
  readonly #shared: SharedState
  readonly #data: Omit<OwnerData, 'index'>
  readonly #owners: Running[] = []
  readonly #agent: ((index: number, port: MessagePort) => void) | undefined
  #closing = false

  /** With `agent`, each owner instance gets a port to the peer agent, handed to it here. */
  constructor(shared: SharedState, data: Omit<OwnerData, 'index' | 'agent'>, agent?: (index: number, port: MessagePort) => void) {
    this.#shared = shared
    this.#data = data
    this.#agent = agent
  }

  /** Starts every owner; resolves when all of them listen. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.#shared.owners }, (_, index) => this.#spawn(index, [])))
  }

  #spawn(index: number, crashes: number[]): Promise<void> {
    const seen = this.#shared.generation(index)
    const channel = this.#agent === undefined ? undefined : new MessageChannel()
    const data: OwnerData = { ...this.#data, index, agent: channel?.port1 }
    const worker = new Worker(ownerEntry, {
      workerData: data,
      transferList: channel === undefined ? [] : [channel.port1],
      name: `coop-cache owner ${index}`,
    })
    if (channel !== undefined) this.#agent?.(index, channel.port2)
    const control = wrap<OwnerControl>(nodeEndpoint(worker))
    // Owners do not keep the process alive: a caller's pending request does (see caller.ts).
    // After wrap(): listening for messages on a worker refs it again.
    worker.unref()
    this.#owners[index] = { worker, control, crashes, exited: false }
    worker.on('error', () => {}) // the exit that follows is what counts
    const started = new Promise<void>((resolve, reject) => {
      let exited = false
      const onExit = (code: number) => {
        exited = true
        reject(new Error(`owner ${index} exited with code ${code} while starting`))
      }
      worker.once('exit', onExit)
      const wait = async () => {
        while (this.#shared.generation(index) === seen) {
          if (exited) return
          await this.#shared.generationChange(index, seen, 100)
        }
        worker.off('exit', onExit)
        worker.once('exit', (code) => this.#exited(index, worker, code))
        resolve()
      }
      void wait()
    })
    return started
  }

  #exited(index: number, worker: Worker, code: number): void {
    const running = this.#owners[index]
    if (this.#closing || running?.worker !== worker) return
    running.exited = true
    running.control[releaseProxy]()
    this.#shared.forgetOwnerEntries(index)
    const now = Date.now()
    const crashes = [...running.crashes.filter((at) => now - at < RESTART_WINDOW), now]
    if (crashes.length > MAX_RESTARTS) {
      process.emitWarning(`coop-cache: owner ${index} crashed ${crashes.length} times in ${RESTART_WINDOW} ms (last exit code ${code}); it is not restarted, and calls for its keys fail with OwnerUnavailableError`, { code: 'COOP_CACHE_OWNER_GAVE_UP' })
      this.#shared.ownerStopped(index, OwnerState.GaveUp)
      return
    }
    this.#shared.ownerStopped(index, OwnerState.Starting)
    this.#spawn(index, crashes).catch(() => this.#exited(index, this.#owners[index]?.worker ?? worker, 1))
  }

  /** Ends every owner: pending requests get CacheClosedError, then the threads stop. */
  async close(): Promise<void> {
    this.#closing = true
    await Promise.all(
      this.#owners.map(async (running) => {
        const { worker, control } = running
        if (!running.exited) {
          running.exited = true
          await Promise.race([control.close(), new Promise((resolve) => worker.once('exit', resolve))])
          control[releaseProxy]()
        }
        await worker.terminate()
      }),
    )
  }

  /** Ends owner `index`'s thread abruptly, as a crash would. For tests of supervision. */
  async crash(index: number): Promise<void> {
    await this.#owners[index]?.worker.terminate()
  }
}
