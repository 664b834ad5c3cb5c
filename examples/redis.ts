// Three processes, one cache, over a Redis server (its pub/sub; nothing is stored in Redis):
// each key is computed once in all three, and a reset in one reaches the others. Run with
// `npm run example:redis` (REDIS_URL, default redis://127.0.0.1:6379). What the processes do
// is in lib/three-processes.ts.
import { redisBus } from 'coop-cache/redis'
import { threeProcesses } from './lib/three-processes.js'

const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
await threeProcesses({
  name: 'Redis',
  where: url,
  hint: 'Start a Redis server (redis-server, port 6379), or set REDIS_URL to one.',
  bus: () => redisBus({ url }),
})
