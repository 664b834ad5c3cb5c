// A worker thread of examples/threads.ts: it attaches to the main thread's cache through the
// handle in workerData, and asks for the same keys as every other thread.
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { attach, cached } from 'coop-cache'
import type { Report, ThreadsWorkerData } from './threads.js'

const { cache: handle, counter, keys, callsPerKey } = workerData as ThreadsWorkerData
// The same cache as the main thread's: the same entries, the same computations under way.
const cache = attach(handle)

// The same slow work as the main thread's: fn runs in the thread that calls cached(), so
// each thread brings its own; only one of them runs per key.
async function report(id: number): Promise<Report> {
  Atomics.add(counter, 0, 1)
  await sleep(200)
  return { id, computedBy: threadId }
}

// Wait for the main thread's "go", so that all the threads ask at the same instant.
const port = parentPort!
port.postMessage('ready')
await once(port, 'message')

const calls: Promise<Report>[] = []
for (let id = 0; id < keys; id++) {
  for (let i = 0; i < callsPerKey; i++) calls.push(cached(cache, ['report', id], () => report(id)))
}
port.postMessage(await Promise.all(calls))
// Ends this thread's use of the cache only; the other threads carry on.
await cache.close()
