// coop-cache: a cooperative cache for Node.js. This file only names the public API.
export { createCache, attach, cached, reset } from './cache.js'
export type { Cache, CacheHandle, CacheStats } from './cache.js'
export type { CacheOptions } from './options.js'
export type { Compute, ComputeContext } from './caller.js'
export type { Key } from './key.js'
export type { Bus, BusMember } from './bus/bus.js'
export { memoryBus } from './bus/memory.js'
export type { MemoryBus, FaultRule } from './bus/memory.js'
export { ipcBus } from './bus/ipc.js'
export type { IpcBus, IpcBusOptions } from './bus/ipc.js'
export {
  CacheError,
  CacheClosedError,
  ComputeTimeoutError,
  ValueNotCloneableError,
  OwnerUnavailableError,
  CacheResetError,
  InvalidKeyError,
} from './errors.js'
