// The entry of an owner's thread: wires an Owner to its callers and to its supervisor.
import { parentPort, workerData } from 'node:worker_threads'
import { expose } from 'comlink/dist/esm/comlink.mjs'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'
import { listenForCallers } from './handoff.js'
import { Owner } from './owner.js'
import { SharedState } from './shared.js'
import type { OwnerControl, OwnerData } from './protocol.js'

const data = workerData as OwnerData
const shared = new SharedState(data.shared, data.owners)
const owner = new Owner(data, shared)
const stopListening = listenForCallers(data.id, data.index, (port) => owner.attach(port))

const control: OwnerControl = {
  close() {
    stopListening()
    owner.close()
  },
}
if (parentPort === null) throw new Error('owner-worker.js runs on a worker thread started by coop-cache')
expose(control, nodeEndpoint(parentPort))
shared.ownerStarted(data.index)
