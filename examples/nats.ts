// Three processes, one cache, over a NATS server: each key is computed once in all three, and a
// reset in one reaches the others. Run with `npm run example:nats` (NATS_URL, default
// 127.0.0.1:4222). What the processes do is in lib/three-processes.ts.
import { natsBus } from 'coop-cache/nats'
import { threeProcesses } from './lib/three-processes.js'

const servers = process.env.NATS_URL || '127.0.0.1:4222'
await threeProcesses({
  name: 'NATS',
  where: servers,
  hint: 'Start a NATS server (nats-server, port 4222), or set NATS_URL to one.',
  bus: () => natsBus({ servers }),
})
