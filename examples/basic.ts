// The two calls a user needs: createCache() once per process, cached() wherever a value is
// wanted. Run with `npm run example`.
import { setTimeout as sleep } from 'node:timers/promises'
import { createCache, cached, reset } from 'coop-cache'

// The expensive work worth caching. It counts its runs, so we can see how often it ran.
let renders = 0
async function render(page: string, version: unknown): Promise<string> {
  renders++
  await sleep(200)
  return `<h1>${page}</h1><footer>built from ${String(version)}</footer>`
}

// `version` names the state of the source the values are built from (a git sha, a
// timestamp...). The entries live on `threads` worker threads, never more than memoryLimit bytes.
const cache = await createCache({ name: 'pages', version: 'v1', threads: 2, memoryLimit: 8 * 1024 * 1024 })

const pages = ['home', 'about', 'pricing']

// 100 callers at the same instant, spread over 3 pages. fn is given the version its value
// will be stored under, so what it builds always matches the cache's version.
async function round(label: string): Promise<string[]> {
  const [before, started] = [renders, Date.now()]
  const html = await Promise.all(
    Array.from({ length: 100 }, (_, i) => {
      const page = pages[i % pages.length] as string
      return cached(cache, ['page', page], ({ version }) => render(page, version))
    }),
  )
  console.log(`${label} ${renders - before} renders for 100 calls (${Date.now() - started} ms)`)
  return html
}

// Cold: each page renders once; the other callers wait for that render instead of starting
// their own.
await round('cold:       ')
// Warm: every call is a hit.
await round('warm:       ')

// The source moved on (a deploy, a webhook): one reset drops every value of the old version.
// Once it resolves, no caller is served a value built before it.
await reset(cache, 'v2')
const [home] = await round('after reset:')
console.log(`             version ${String(cache.version)}: ${home}`)

const { hits, misses, computes, coalesced, entries, bytes, resets } = await cache.stats()
console.log('stats:', { hits, misses, computes, coalesced, entries, bytes, resets })

await cache.close()
