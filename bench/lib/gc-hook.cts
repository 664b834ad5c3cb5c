// Preloaded into every thread of a process (node --expose-gc -r dist/bench/lib/gc-hook.cjs; a
// `-r` module, unlike an `--import` one, runs in worker threads too), so that a measurement
// can garbage-collect the cache's owner threads, which run no code of its own: a worker thread
// answers 'gc' on a BroadcastChannel with a full collection and its heap after it. See fill.ts.
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads'

/** The channel fill.ts asks on. */
const CHANNEL = 'coop-bench-gc'

if (!isMainThread) {
  const channel = new BroadcastChannel(CHANNEL)
  channel.onmessage = (event) => {
    if ((event as MessageEvent).data !== 'gc') return
    const gc = (globalThis as { gc?: () => void }).gc
    gc?.()
    gc?.()
    const { heapUsed, heapTotal, external } = process.memoryUsage()
    channel.postMessage({ threadId, heapUsed, heapTotal, external })
  }
  // It must not keep a thread alive that has nothing else to do.
  channel.unref()
}
