import { randomUUID } from 'node:crypto'
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads'
import { wrap, releaseProxy, type Remote } from 'comlink/dist/esm/comlink.mjs'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'
import { OwnerState } from '../shared/memory/owners.js'
import type { Shared } from '../shared/memory/shared.js'
import { monotonic } from '../shared/clock.js'
import { ownerOf } from '../shared/key.js'
import { NO_HANDOUT, type HandedEntry, type Handout, type KeyChange, type Owned, type OwnerControl, type OwnerData } from '../shared/protocol.js'

const ownerEntry = new URL('../owner/worker.js', import.meta.url)

/**
 * The young generation of an owner's V8 heap, in MiB. V8 lets a busy thread's grow to 48 MiB by
 * default (two semispaces of 16 MiB and a third for large young objects), whatever the thread
 * holds: filling a cache grew each owner's by 28 MiB of RSS beside its entries. An owner's young
 * objects are its messages, which die at once, and its entries, which it keeps: a small young
 * generation only moves the entries to the old one sooner. At 12 MiB an owner's young generation
 * takes 8 MiB, and owner hits (bench cross-thread, 3 runs each way) and fills were no slower
 * than at 48, within this 2-core machine's noise.
 */
const OWNER_YOUNG_MB = 12

/** How often an owner may crash in RESTART_WINDOW ms before supervision gives up on it. */
const MAX_RESTARTS = 5
const RESTART_WINDOW = 10_000

/** What the peer agent hears of owners: each new instance's port, and each instance's end. */
export interface OwnerEvents {
  started(index: number, incarnation: string, port: MessagePort): void
  ended(index: number, incarnation: string, gaveUp: boolean): void
}

interface Running {
  readonly worker: Worker
  readonly incarnation: string
  readonly control: Remote<OwnerControl>
  readonly crashes: number[]
  /** resolves with the exit code when the thread has ended */
  readonly gone: Promise<number>
  exited: boolean
}

/**
 * Starts the owners' threads in the thread that created the cache, and restarts an owner whose
 * thread dies. It alone writes the owners' states in shared memory: callers notice a restart
 * there (the generation moves) and reconnect by themselves; the entries the dead owner held are
 * gone, and their bytes given back.
 */
export class Supervisor {
  readonly #shared: Shared
  readonly #data: Omit<OwnerData, 'index' | 'incarnation' | 'agent'>
  readonly #owners: Running[] = []
  readonly #events: OwnerEvents | undefined
  #closing = false

  /** With `events` (a bus), each owner instance gets a port to the peer agent, handed over there. */
  constructor(shared: Shared, data: Omit<OwnerData, 'index' | 'incarnation' | 'agent'>, events?: OwnerEvents) {
    this.#shared = shared
    this.#data = data
    this.#events = events
  }

  /** Starts every owner; resolves when all of them listen. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.#shared.owners.count }, (_, index) => this.#spawn(index, [])))
  }

  async #spawn(index: number, crashes: number[]): Promise<void> {
    const incarnation = randomUUID()
    const channel = this.#events === undefined ? undefined : new MessageChannel()
    const data: OwnerData = { ...this.#data, index, incarnation, agent: channel?.port1 }
    const worker = new Worker(ownerEntry, { workerData: data, transferList: channel === undefined ? [] : [channel.port1], name: `coop-cache owner ${index}`, resourceLimits: { maxYoungGenerationSizeMb: OWNER_YOUNG_MB } })
    const control = wrap<OwnerControl>(nodeEndpoint(worker))
    // Owners do not keep the process alive: a caller's pending request does (see owner-link.ts).
    // After wrap(): listening for messages on a worker refs it again.
    worker.unref()
    const gone = new Promise<number>((resolve) =>
      worker.once('exit', (code) => {
        // Before anything that waits on this owner goes on: had it died between moving a key's
        // fence and counting the change, near copies would not look at that fence (changes.ts).
        this.#shared.changes.moved()
        resolve(code)
      }),
    )
    const running: Running = { worker, incarnation, control, crashes, gone, exited: false }
    this.#owners[index] = running
    worker.on('error', () => {}) // the exit that follows is what counts
    if (channel !== undefined) this.#events?.started(index, incarnation, channel.port2)
    const listening = control.incarnation().then(() => undefined)
    const code = await Promise.race([gone, listening])
    if (code !== undefined) throw new Error(`owner ${index} exited with code ${code} while starting`)
    if (this.#closing) return
    this.#shared.owners.started(index)
    void gone.then((exitCode) => this.#exited(index, running, exitCode))
  }

  #exited(index: number, running: Running, code: number): void {
    if (this.#closing || this.#owners[index] !== running) return
    running.exited = true
    running.control[releaseProxy]()
    this.#shared.budget.forgetOwner(index)
    const now = monotonic()
    const crashes = [...running.crashes.filter((at) => now - at < RESTART_WINDOW), now]
    const gaveUp = crashes.length > MAX_RESTARTS
    this.#shared.owners.stopped(index, gaveUp ? OwnerState.GaveUp : OwnerState.Starting)
    this.#events?.ended(index, running.incarnation, gaveUp)
    if (gaveUp) {
      process.emitWarning(`coop-cache: owner ${index} crashed ${crashes.length} times in ${RESTART_WINDOW} ms (last exit code ${code}); it is not restarted, and calls for its keys fail with OwnerUnavailableError`, { code: 'COOP_CACHE_OWNER_GAVE_UP' })
      return
    }
    this.#spawn(index, crashes).catch(() => {
      const next = this.#owners[index]
      if (next !== undefined && next !== running) this.#exited(index, next, 1)
    })
  }

  /**
   * Hands `each` every entry of `epoch` the running owners hold of the keys `owned` selects,
   * a part at a time, once their open flights end or `ms` passed; resolves with the keys of the
   * flights still open then (the control plane: comlink, not the hot path). The owners wait for
   * their flights together; then one part at a time is in memory here.
   */
  async entries(epoch: number, ms: number, owned: Owned, each: (entries: HandedEntry[]) => Promise<void>): Promise<string[]> {
    const running = this.#owners.filter((owner) => !owner.exited)
    // An owner that dies meanwhile has nothing more to give: its entries died with it.
    const part = (owner: Running, from: number) => Promise.race([owner.control.entries(epoch, ms, owned, from), owner.gone.then(() => NO_HANDOUT)])
    const firsts = await Promise.all(running.map((owner) => part(owner, 0)))
    const open: string[] = []
    for (const [i, owner] of running.entries()) {
      for (let handout = firsts[i] as Handout; ; handout = await part(owner, handout.next)) {
        await each(handout.entries)
        open.push(...handout.open)
        if (handout.next === 0) break
      }
    }
    return open
  }

  /**
   * Carries out a change of keys in the owners it concerns (every owner, for a prefix); resolves
   * when they have. An owner that dies meanwhile holds nothing more of the keys.
   */
  async change(change: KeyChange, epoch: number): Promise<boolean> {
    const count = this.#shared.owners.count
    const concerned = change.type === 'invalidate' && change.prefix ? this.#owners : [this.#owners[ownerOf(change.key, count)]]
    const each = await Promise.all(
      concerned.map((owner) => (owner === undefined || owner.exited ? false : Promise.race([owner.control.change(change, epoch), owner.gone.then(() => false)]))),
    )
    return each.some((changed) => changed)
  }

  /** Ends every owner: pending requests get CacheClosedError, then the threads stop. */
  async close(): Promise<void> {
    this.#closing = true
    await Promise.all(
      this.#owners.map(async (running) => {
        const { worker, control } = running
        if (!running.exited) {
          running.exited = true
          await Promise.race([control.close(), running.gone])
          control[releaseProxy]()
        }
        await worker.terminate()
      }),
    )
    this.#shared.owners.wakeAll()
  }

  /** Ends owner `index`'s thread abruptly, as a crash would. For the project's tests of supervision. */
  async crash(index: number): Promise<void> {
    await this.#owners[index]?.worker.terminate()
  }
}
