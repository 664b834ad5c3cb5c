// Peer processes of a scenario: a file forked with a role as its first argument (as worker
// threads are started with a role in workerData, see scenario.ts), driven over the IPC channel
// that fork gives. A command goes down as { 'coop-bench': id, command }, its answer comes back
// with the same id. The channel may also carry an ipcBus's envelopes, which have a field of
// their own ('coop-cache'): both sides pass them by.

import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

interface Envelope {
  readonly 'coop-bench': number
  readonly command?: unknown
  readonly answer?: unknown
  readonly error?: string
}

const isOurs = (m: unknown): m is Envelope => typeof m === 'object' && m !== null && typeof (m as Record<string, unknown>)['coop-bench'] === 'number'

/** A forked peer process, and the way to tell it what to do. */
export class Peer {
  readonly process: ChildProcess
  readonly label: string
  readonly #pending = new Map<number, { resolve: (answer: any) => void; reject: (error: Error) => void }>()
  #id = 0
  #gone: Error | undefined

  constructor(child: ChildProcess, label: string) {
    this.process = child
    this.label = label
    child.on('message', (m: unknown) => {
      if (!isOurs(m)) return
      const pending = this.#pending.get(m['coop-bench'])
      this.#pending.delete(m['coop-bench'])
      if (m.error !== undefined) pending?.reject(new Error(`peer ${label} failed: ${m.error}`))
      else pending?.resolve(m.answer)
    })
    child.on('exit', (code, signal) => {
      this.#gone = new Error(`peer ${label} exited with ${code ?? signal} before answering`)
      for (const { reject } of this.#pending.values()) reject(this.#gone)
      this.#pending.clear()
    })
  }

  /** Sends `command` and resolves with the peer's answer (rejects with its error). */
  ask<T>(command: object): Promise<T> {
    if (this.#gone !== undefined) return Promise.reject(this.#gone)
    const id = ++this.#id
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.process.send({ 'coop-bench': id, command } satisfies Envelope)
    })
  }
}

/**
 * Forks `moduleUrl` with `role` and `label` as its arguments; resolves once it answers. `execArgv`
 * are node's flags for it (by default this process's own, as fork has it).
 */
export async function startPeer(moduleUrl: string | URL, role: string, label: string, execArgv?: string[]): Promise<Peer> {
  const child = fork(fileURLToPath(moduleUrl), [role, label], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...(execArgv !== undefined ? { execArgv } : {}) })
  const peer = new Peer(child, label)
  await peer.ask({ cmd: 'ping' })
  return peer
}

/** The forked side: answers each command with `handle`, one at a time or at once as they come. */
export function servePeer(handle: (command: any) => Promise<unknown>): void {
  process.on('message', (m: unknown) => {
    if (!isOurs(m)) return
    const id = m['coop-bench']
    const command = m.command as { cmd?: string }
    const answer = command.cmd === 'ping' ? Promise.resolve('pong') : handle(command)
    answer.then(
      (value) => process.send?.({ 'coop-bench': id, answer: value } satisfies Envelope),
      (error: unknown) => process.send?.({ 'coop-bench': id, error: String((error as Error)?.stack ?? error) } satisfies Envelope),
    )
  })
}

/** The role this process was forked with, if startPeer forked it. */
export function forkedRole(): { role: string; label: string } | undefined {
  const [role, label] = process.argv.slice(2)
  return process.send !== undefined && role !== undefined && label !== undefined ? { role, label } : undefined
}
