// An HTTP server under node:cluster: 4 worker processes share one cache over node's IPC, so a
// page is rendered once in the whole cluster, whichever worker a request lands on, and one
// POST /reset moves every worker to the new version. Run with `npm run example:cluster`.
//
// The primary runs no cache, but it makes the ipcBus too: there it is the hub that routes
// the workers' messages to each other. Then it plays the clients: a burst of requests for
// cold pages, a reset, and another burst.
import cluster, { type Worker } from 'node:cluster'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { createCache, cached, reset, ipcBus } from 'coop-cache'

const WORKERS = 4
const PAGES = 5
const REQUESTS = 400

/** What the primary and the workers say to each other, beside the bus's own messages. */
type ToWorker = { cmd: 'count' } | { cmd: 'close' }
type FromWorker = { ready: true } | { renders: number; version: unknown; heard: unknown[] }

const bus = ipcBus()

if (cluster.isPrimary) await primary()
else await worker()

// ---- a worker: the server ----

async function worker(): Promise<void> {
  const id = cluster.worker!.id
  let renders = 0
  // The versions this worker heard of from a reset, its own or another worker's.
  const heard: unknown[] = []

  // The expensive work worth caching: it counts its runs, and says who ran it.
  async function render(n: number, version: unknown): Promise<string> {
    renders++
    await sleep(100)
    return `<h1>page ${n}</h1><footer>rendered by worker ${id} from ${String(version)}</footer>\n`
  }

  // One cache per worker process, all on the same bus under the same name: one cache.
  // threads: 1, as 4 processes already share the machine's cores.
  const cache = await createCache({ name: 'pages', version: 'v1', bus, threads: 1, onReset: (version) => heard.push(version) })

  const server: Server = createServer((req, res) => {
    const page = /^\/page\/(\d+)$/.exec(req.url ?? '')
    if (req.method === 'GET' && page !== null) {
      const n = Number(page[1])
      cached(cache, ['page', n], ({ version }) => render(n, version)).then(
        (html) => res.writeHead(200, { 'content-type': 'text/html' }).end(html),
        (error: Error) => res.writeHead(500).end(`${error.message}\n`),
      )
    } else if (req.method === 'POST' && req.url?.startsWith('/reset')) {
      // The new version in the query: POST /reset?version=v2. Resolves once every worker has it.
      const version = new URL(req.url, 'http://x').searchParams.get('version') ?? String(Date.now())
      reset(cache, version).then(
        () => res.writeHead(200).end(`${version}\n`),
        (error: Error) => res.writeHead(500).end(`${error.message}\n`),
      )
    } else res.writeHead(404).end()
  })
  // Port 0 in every worker: the primary picks one free port, and every worker shares it.
  server.listen(0)
  await once(server, 'listening')

  // Ready once this worker sees all the others: a burst before that could render a page
  // once per group of workers that do not know each other yet.
  while ((await cache.stats({ local: true })).peers < WORKERS) await sleep(50)
  process.send!({ ready: true } satisfies FromWorker)

  process.on('message', async (message: ToWorker | Record<string, unknown>) => {
    if (message.cmd === 'count') {
      process.send!({ renders, version: cache.version, heard } satisfies FromWorker)
    } else if (message.cmd === 'close') {
      // Says bye on the bus (the others take this worker's pages at once), ends its threads.
      await cache.close()
      server.close()
      server.closeAllConnections()
      process.disconnect()
    }
  })
}

// ---- the primary: starts the workers, then plays the clients ----

async function primary(): Promise<void> {
  const workers = Array.from({ length: WORKERS }, () => cluster.fork())
  const exited = Promise.all(workers.map((w) => once(w, 'exit')))
  const ready = Promise.all(workers.map((w) => nextMessage(w)))
  const [, address] = (await once(cluster, 'listening')) as [Worker, AddressInfo]
  const base = `http://127.0.0.1:${address.port}`
  await ready
  console.log(`${WORKERS} workers listen on ${base} and see each other`)

  // Each worker's render count, version, and the versions its onReset was told of.
  async function counts(): Promise<{ renders: number; version: unknown; heard: unknown[] }[]> {
    const answers = workers.map((w) => nextMessage(w))
    for (const w of workers) w.send({ cmd: 'count' } satisfies ToWorker)
    return (await Promise.all(answers)) as { renders: number; version: unknown; heard: unknown[] }[]
  }

  // REQUESTS at once, spread over PAGES pages: the requests land on every worker.
  async function burst(label: string, version: string): Promise<void> {
    const before = await counts()
    const started = Date.now()
    const bodies = await Promise.all(
      Array.from({ length: REQUESTS }, async (_, i) => {
        const res = await fetch(`${base}/page/${i % PAGES}`)
        if (!res.ok) throw new Error(`GET /page/${i % PAGES}: ${res.status} ${await res.text()}`)
        return res.text()
      }),
    )
    const ms = Date.now() - started
    const after = await counts()
    const each = after.map((c, i) => c.renders - (before[i]?.renders ?? 0))
    const total = each.reduce((a, b) => a + b, 0)
    console.log(
      `${label}${REQUESTS} requests for ${PAGES} pages: ${total} renders in the whole cluster ` +
        `(${each.map((n, i) => `worker ${workers[i]!.id}: ${n}`).join(', ')}) in ${ms} ms`,
    )
    const stale = bodies.filter((html) => !html.includes(`from ${version}<`)).length
    console.log(`  every page came from ${version}: ${stale === 0 ? 'yes' : `no, ${stale} did not`}`)
  }

  await burst('', 'v1')

  // One POST lands on one worker; that worker's reset reaches every other one.
  const res = await fetch(`${base}/reset?version=v2`, { method: 'POST' })
  if (!res.ok) throw new Error(`POST /reset: ${res.status} ${await res.text()}`)
  const versions = await counts()
  const onV2 = versions.filter((c) => c.version === 'v2').length
  const told = versions.filter((c) => c.heard.includes('v2')).length
  console.log(
    `after POST /reset to v2 ${onV2 === WORKERS ? 'every worker is' : `only ${onV2} of ${WORKERS} workers are`} on v2 ` +
      `(onReset called in ${told} of ${WORKERS})`,
  )

  await burst('after the reset: ', 'v2')

  for (const w of workers) w.send({ cmd: 'close' } satisfies ToWorker)
  await exited
  bus.close()
}

/** The next message of ours from `w` (the bus's own envelopes pass by on the same channel). */
function nextMessage(w: Worker): Promise<FromWorker> {
  return new Promise((resolve) => {
    const listen = (message: Record<string, unknown>) => {
      if ('coop-cache' in message) return
      w.off('message', listen)
      resolve(message as FromWorker)
    }
    w.on('message', listen)
  })
}
