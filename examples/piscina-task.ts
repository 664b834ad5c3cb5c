// The task of examples/piscina.ts. The pool's workerData carries the cache's handle, so each
// worker of the pool (including ones the pool starts later) attaches once, here at the top,
// and its tasks need no setup of their own.
import { setTimeout as sleep } from 'node:timers/promises'
import { threadId } from 'node:worker_threads'
import { workerData } from 'piscina'
import { attach, cached } from 'coop-cache'
import type { Item, PoolData } from './piscina.js'

const { cache: handle, counter } = workerData as PoolData
const cache = attach(handle)

export default async function task(id: number): Promise<Item> {
  // fn runs in this worker if this task is the first, anywhere in the process, to ask for
  // the key; otherwise the task waits for that computation, or gets the stored value.
  return cached(cache, ['item', id], async () => {
    Atomics.add(counter, 0, 1)
    await sleep(200) // the expensive part
    return { id, computedBy: threadId }
  })
}
