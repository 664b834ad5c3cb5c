// coop-cache: a cooperative cache for Node.js. This file only names the public API.
export { createCache, attach, cached, reset } from './cache.js'
export type { Cache, CacheHandle, CacheStats } from './cache.js'
export type { CacheOptions } from './options.js'
export type { Compute, ComputeContext } from './caller.js'
export type { Key } from './key.js'
export {
  CacheError,
  CacheClosedError,
  ComputeTimeoutError,
  ValueNotCloneableError,
  OwnerUnavailableError,
  CacheResetError,
  InvalidKeyError,
} from './errors.js'
