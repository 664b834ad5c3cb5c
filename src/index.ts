// coop-cache: a cooperative cache for Node.js. This file only names the public API.
export { createCache } from './host/create.js'
export { attach, cached, reset, invalidate, peek, has, set } from './caller/cache.js'
export type { Cache, CacheHandle, CacheStats } from './caller/cache.js'
export type { CacheOptions } from './host/options.js'
export type { Compute, ComputeContext, CallOptions, CallStatus, Outcome } from './caller/client.js'
export type { Key } from './shared/key.js'
export type { Bus, BusMember } from './bus/bus.js'
export { memoryBus } from './bus/memory.js'
export type { MemoryBus, MemoryBusOptions, FaultRule } from './bus/memory.js'
export { ipcBus } from './bus/ipc.js'
export type { IpcBus, IpcBusOptions } from './bus/ipc.js'
export {
  CacheError,
  CacheClosedError,
  ComputeTimeoutError,
  ValueNotCloneableError,
  OwnerUnavailableError,
  CachePartitionedError,
  CacheResetError,
  InvalidKeyError,
  CallAbortedError,
  CallTimeoutError,
  CacheNotReadyError,
  ChangeNotConfirmedError,
} from './shared/errors.js'
