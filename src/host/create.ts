import { randomUUID } from 'node:crypto'
import { hostedCache, type Cache, type CacheHandle, type Host } from '../caller/cache.js'
import { Agent } from '../peer/agent.js'
import { assertPortHandoff } from '../shared/handoff.js'
import { holdingOpen } from '../shared/hold.js'
import { EpochWriter, INITIAL_CLOCK } from '../shared/memory/epoch.js'
import { Memory } from '../shared/memory/layout.js'
import { Shared } from '../shared/memory/shared.js'
import { serveHost } from '../shared/host-channel.js'
import { relayOwnerEvents } from '../events/forward.js'
import { announce } from '../events/channels.js'
import type { KeyChange } from '../shared/protocol.js'
import { serializeVersion } from '../shared/values.js'
import { settingsOf, type CacheOptions } from './options.js'
import { register } from './registry.js'
import { Resets } from './resets.js'
import { Supervisor } from './supervisor.js'

/**
 * Makes a cache: starts its owners' threads (and with a bus, joins its peers) and resolves when
 * they listen. Rejects with a TypeError or RangeError naming the option at fault, or with the
 * bus's error when it cannot be joined.
 */
export async function createCache(options: CacheOptions): Promise<Cache> {
  const settings = settingsOf(options)
  assertPortHandoff()
  const version = serializeVersion(settings.version, 'options.version')
  const { bus } = settings
  const id = randomUUID()
  const self = bus === undefined ? '' : randomUUID()
  const memory = Memory.create(settings.threads, id, self, bus !== undefined)
  // The initial version is nobody's reset: between processes started on different ones, the
  // older process's wins, so that one joining a running cluster takes its version.
  const shared = new Shared(memory, EpochWriter.start(memory, version, { clock: INITIAL_CLOCK, origin: self, born: Date.now() }))
  const resets = new Resets(shared, settings.name, settings.onReset)
  // A change of keys is carried out in this process's owners (a prefix's fence moving once all
  // are done): this process's own, and with a bus, each peer's, which the agent takes. (Called
  // once the owners run: `supervisor` is set by then.)
  const here = async (change: KeyChange, epoch: number) => {
    const changed = await supervisor.change(change, epoch)
    if (change.type === 'invalidate' && change.prefix && (changed || !change.again)) shared.fences.movePrefixes()
  }
  const agent = bus === undefined ? undefined : new Agent({ ...settings, bus, shared, resets, apply: here, entries: (epoch, owned, each): Promise<string[]> => supervisor.entries(epoch, 0, owned, each) })
  const supervisor = new Supervisor(
    shared,
    {
      shared: memory.buffer,
      id,
      memoryLimit: settings.memoryLimit,
      computeTimeout: settings.computeTimeout,
      policy: settings.policy,
      partition: settings.partition,
      peerTimeout: settings.peerTimeout,
      replicas: bus === undefined ? 1 : settings.replicas,
    },
    agent,
  )
  await holdingOpen(supervisor.start())
  if (agent !== undefined) {
    try {
      await holdingOpen(agent.join())
    } catch (error) {
      shared.epochs.close()
      await holdingOpen(supervisor.close())
      throw error
    }
  }
  const reset = async (bytes: Uint8Array) => resets.effective(resets.reset(bytes))
  // With a bus, the agent carries this process's changes to every live peer too.
  const change = async (change: KeyChange) => {
    const epoch = shared.epochs.epoch()
    announce(settings.name, change, true)
    return agent === undefined ? here(change, epoch) : agent.change(change, epoch)
  }
  const stopServing = serveHost(id, { reset, change })
  const stopRelaying = relayOwnerEvents(memory, settings.name)
  let closing: Promise<void> | undefined
  const host: Host = {
    reset,
    change,
    close: () =>
      (closing ??= (async () => {
        stopServing()
        stopRelaying()
        // Leaving without a fault: the entries go to the processes that own their keys next,
        // with the values still on their way here (flights open), waited for a little.
        if (agent !== undefined) await holdingOpen(agent.handOver((owned, each) => supervisor.entries(shared.epochs.epoch(), settings.peerTimeout / 2, owned, each)))
        shared.epochs.close()
        await holdingOpen(Promise.all([agent?.close(), supervisor.close()]))
      })()),
  }
  const handle: CacheHandle = {
    kind: 'coop-cache',
    name: settings.name,
    id,
    shared: memory.buffer,
    nearLimit: settings.nearLimit,
    computeTimeout: settings.computeTimeout,
    memoryLimit: settings.memoryLimit,
    ttl: settings.ttl,
    grace: settings.grace,
  }
  const cache = await hostedCache(handle, shared, host)
  register(cache, supervisor)
  return cache
}

