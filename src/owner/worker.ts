// The entry of an owner's thread: wires an Owner to its callers and to the creating thread.
import { parentPort, workerData } from 'node:worker_threads'
import { expose } from 'comlink/dist/esm/comlink.mjs'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'
import { listenForCallers } from '../shared/handoff.js'
import { Shared } from '../shared/memory/shared.js'
import type { OwnerControl, OwnerData } from '../shared/protocol.js'
import { Owner } from './owner.js'
import { rehearse } from './rehearsal.js'

const data = workerData as OwnerData
// Before the owner listens: the cache is ready once its owners are warm (see rehearsal.ts).
await rehearse(data).catch((error: unknown) => {
  process.emitWarning(`coop-cache: an owner thread's rehearsal failed, and its first requests will be slower: ${String(error)}`, { code: 'COOP_CACHE_REHEARSAL_FAILED' })
})
const owner = new Owner(data, Shared.of(data.shared))
const stopListening = listenForCallers(data.id, data.index, (port) => owner.attach(port))

const control: OwnerControl = {
  incarnation: () => data.incarnation,
  entries: (epoch, ms, owned, from) => owner.entries(epoch, ms, owned, from),
  change: (change, epoch) => owner.change(change, epoch),
  close() {
    stopListening()
    owner.close()
  },
}
if (parentPort === null) throw new Error('owner/worker.js runs on a worker thread started by coop-cache')
// Exposed once the owner listens: the supervisor's first call, answered, says so.
expose(control, nodeEndpoint(parentPort))
