// What every scenario file shares: its options, what it hands back to run.ts, running it
// alone, and talking to the worker threads it starts.

import { Worker, isMainThread, type MessagePort } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import { resolve } from 'node:path'
import { appendFileSync, writeFileSync } from 'node:fs'

export interface Options {
  /** rounds of every measurement; each figure is the median over them (at least 5) */
  readonly rounds: number
  /** smaller sizes, for a trial run (BENCH_QUICK=1); figures are then not comparable */
  readonly quick: boolean
}

/** A scenario's part of RESULTS.md, and the figures the closing section reasons from. */
export interface Section {
  readonly title: string
  readonly markdown: string
  readonly figures: Record<string, number>
}

export type Scenario = (options: Options) => Promise<Section>

export function optionsFromEnv(): Options {
  const rounds = Math.max(5, Number(process.env.BENCH_ROUNDS ?? 5) || 5)
  return { rounds, quick: process.env.BENCH_QUICK === '1' }
}

/** True when `moduleUrl` is the script node was started with (not imported, not a worker). */
export function isEntry(moduleUrl: string): boolean {
  const script = process.argv[1]
  return isMainThread && script !== undefined && resolve(script) === fileURLToPath(moduleUrl)
}

/**
 * Runs one scenario alone and prints its section: `node dist/bench/hit.js`. When run.ts starts
 * it (each scenario in a process of its own), BENCH_JSON names the file to write it to.
 */
export async function runAlone(scenario: Scenario): Promise<void> {
  const started = process.hrtime.bigint()
  const section = await scenario(optionsFromEnv())
  const out = process.env.BENCH_JSON
  if (out !== undefined && out !== '') {
    writeFileSync(out, JSON.stringify(section))
    return
  }
  console.log(`## ${section.title}\n\n${section.markdown}\n`)
  console.log(`(${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s)`)
}

/**
 * Notes progress (which measurement is running) in the file BENCH_TRACE names, if any, so that
 * when a scenario hangs, run.ts can say where. Any thread may call it.
 */
export function trace(what: string): void {
  const file = process.env.BENCH_TRACE
  if (file === undefined || file === '') return
  appendFileSync(file, `${new Date().toISOString()} ${isMainThread ? 'main' : 'worker'} ${what}\n`)
}

type Endpoint = Worker | MessagePort

/** The next message on `endpoint`; rejects if a worker errs or exits first. */
export function nextMessage<T>(endpoint: Endpoint): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (message: T) => {
      cleanup()
      resolve(message)
    }
    const onError = (error: Error) => {
      cleanup()
      reject(error)
    }
    const onExit = (code: number) => {
      cleanup()
      reject(new Error(`worker exited with code ${code} before answering`))
    }
    const cleanup = () => {
      endpoint.off('message', onMessage)
      endpoint.off('error', onError)
      endpoint.off('exit', onExit)
    }
    endpoint.on('message', onMessage)
    endpoint.on('error', onError)
    endpoint.on('exit', onExit)
  })
}

/** Sends `message` and waits for the answer. */
export function ask<T>(endpoint: Endpoint, message: unknown, transfer?: readonly MessagePort[]): Promise<T> {
  const answer = nextMessage<T>(endpoint)
  endpoint.postMessage(message, transfer as MessagePort[] | undefined)
  return answer
}

/** Starts `moduleUrl` (a scenario file) as a worker in role `role`; resolves once it runs. */
export async function startWorker(moduleUrl: string | URL, role: string, data: Record<string, unknown> = {}): Promise<Worker> {
  const worker = new Worker(new URL(moduleUrl), { workerData: { role, ...data } })
  const ready = await nextMessage<{ ready: true }>(worker)
  if (ready.ready !== true) throw new Error(`worker ${role} did not start`)
  return worker
}

/** Worker side of startWorker: says it runs, then answers each request with `handle`. */
export function serve(port: MessagePort, handle: (message: any) => Promise<unknown>): void {
  port.on('message', (message: unknown) => {
    handle(message).then(
      (answer) => port.postMessage(answer),
      (error: unknown) => port.postMessage({ error: String((error as Error)?.stack ?? error) }),
    )
  })
  port.postMessage({ ready: true })
}

/** Throws the error a worker sent back in place of its answer. */
export function unwrap<T>(answer: T | { error: string }): T {
  if (typeof answer === 'object' && answer !== null && 'error' in answer && typeof (answer as { error: unknown }).error === 'string') {
    throw new Error(`worker failed: ${(answer as { error: string }).error}`)
  }
  return answer as T
}
