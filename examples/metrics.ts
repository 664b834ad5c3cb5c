// The cache's metrics in Prometheus: a small HTTP app caches its pages, and serves what the cache
// did at /metrics, through OpenTelemetry. Run with `npm run example:metrics`, then:
//
//   curl localhost:3000/pages/home      (twice: a miss, then a hit)
//   curl -X POST localhost:3000/reset   (every page is built again after it)
//   curl localhost:3000/metrics         (what a Prometheus scrape sees)
//
// instrument() subscribes to the cache's diagnostics channels; the SDK's MeterProvider
// aggregates, and the Prometheus exporter renders its text on request. PORT picks the port.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { createCache, cached, reset } from 'coop-cache'
import { instrument } from 'coop-cache/otel'

/** The app, listening: its port, and how to stop it. */
export interface App {
  readonly port: number
  close(): Promise<void>
}

// The expensive work worth caching.
async function render(page: string, version: unknown): Promise<string> {
  await sleep(50)
  return `<h1>${page}</h1><footer>built from ${String(version)}</footer>\n`
}

/** Starts the app on `port` (0: any free port). */
export async function start(port = 3000): Promise<App> {
  // No server of its own: the app serves the exporter's text at /metrics, on its own port.
  const exporter = new PrometheusExporter({ preventServerStart: true })
  const meterProvider = new MeterProvider({ readers: [exporter] })
  // Before createCache, so that the cache's first events are counted too.
  const uninstrument = instrument({ meterProvider })
  const cache = await createCache({ name: 'pages', version: 'v1', threads: 2, memoryLimit: 8 * 1024 * 1024 })

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { pathname } = new URL(request.url ?? '/', 'http://localhost')
    const page = /^\/pages\/([\w-]{1,64})$/.exec(pathname)?.[1]
    if (request.method === 'GET' && pathname === '/metrics') {
      exporter.getMetricsRequestHandler(request, response)
    } else if (request.method === 'GET' && page !== undefined) {
      const html = await cached(cache, ['page', page], ({ version }) => render(page, version))
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html)
    } else if (request.method === 'POST' && pathname === '/reset') {
      await reset(cache, `v${Date.now()}`)
      response.writeHead(204).end()
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('try GET /pages/home, POST /reset, GET /metrics\n')
    }
  }

  const server = createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      console.error(error)
      if (!response.headersSent) response.writeHead(500)
      response.end()
    })
  })
  server.listen(port)
  await once(server, 'listening')
  const address = server.address()
  return {
    port: typeof address === 'object' && address !== null ? address.port : port,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((done) => server.close(() => done()))
      uninstrument()
      await cache.close()
      await meterProvider.shutdown()
    },
  }
}

// Run as a script (not imported by a test): serve until Ctrl-C.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const app = await start(Number(process.env.PORT ?? 3000))
  console.log(`http://localhost:${app.port}/pages/home, POST /reset, metrics at http://localhost:${app.port}/metrics (Ctrl-C stops)`)
  process.once('SIGINT', () => void app.close())
}
