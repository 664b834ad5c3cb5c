// examples/metrics.ts, as Prometheus sees it: the app runs here with its real cache, SDK and
// exporter; a few pages are asked for over HTTP, and /metrics must be text a Prometheus server
// can scrape (read here by a strict reader of the text exposition format) that counts them.
import test from 'ava'
import { start } from '../examples/metrics.js'

interface Sample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`)
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(?:,|$)/

/**
 * Reads Prometheus's text format (version 0.0.4) as its parser does, and throws at the first
 * line it would refuse: a sample of a family without a TYPE, or not named for its type; bad
 * names, labels or values; a TYPE after the family's samples or twice.
 */
function parse(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>()
  const samples: Sample[] = []
  const seen = new Set<string>()
  for (const [i, line] of text.split('\n').entries()) {
    const where = `line ${i + 1}: ${line}`
    if (line.trim() === '') continue
    if (line.startsWith('#')) {
      const [, keyword, name, rest] = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line) ?? []
      if (keyword === 'TYPE') {
        if (!new RegExp(`^${NAME}$`).test(name ?? '') || !TYPES.has(rest ?? '')) throw new Error(`a bad TYPE, ${where}`)
        if (types.has(name as string) || seen.has(name as string)) throw new Error(`a TYPE twice or after its samples, ${where}`)
        types.set(name as string, rest as string)
      }
      continue // HELP, and any other comment (# UNIT among them), which this format ignores
    }
    const [, name = '', labelText = '', valueText = ''] = SAMPLE.exec(line) ?? []
    if (name === '') throw new Error(`not a sample, ${where}`)
    const family = [...types.keys()].find((f) => name === f || (types.get(f) === 'histogram' && [`${f}_bucket`, `${f}_sum`, `${f}_count`].includes(name)))
    if (family === undefined) throw new Error(`a sample of a family without a TYPE, ${where}`)
    seen.add(family)
    const labels: Record<string, string> = {}
    for (let rest = labelText; rest !== ''; ) {
      const match = LABEL.exec(rest)
      if (match === null) throw new Error(`bad labels, ${where}`)
      labels[match[1] as string] = (match[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
      rest = rest.slice(match[0].length)
    }
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText)
    if (valueText === '' || (Number.isNaN(value) && valueText !== 'NaN')) throw new Error(`a bad value, ${where}`)
    samples.push({ name, labels, value })
  }
  return { types, samples }
}

/** The sum of `name`'s samples whose labels include `labels`. */
function total(samples: readonly Sample[], name: string, labels: Record<string, string>): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0)
}

test('the metrics example serves what its cache did as Prometheus text, each series labelled with the cache name', async (t) => {
  const app = await start(0)
  t.teardown(() => app.close())
  const base = `http://127.0.0.1:${app.port}`
  const page = async (path: string) => (await fetch(`${base}${path}`)).text()

  t.is(await page('/pages/home'), '<h1>home</h1><footer>built from v1</footer>\n')
  t.is(await page('/pages/home'), '<h1>home</h1><footer>built from v1</footer>\n')
  t.is((await fetch(`${base}/reset`, { method: 'POST' })).status, 204)
  t.regex(await page('/pages/home'), /built from v\d+/)
  t.not(await page('/pages/home'), '<h1>home</h1><footer>built from v1</footer>\n')
  await page('/pages/about')
  t.is((await fetch(`${base}/nowhere`)).status, 404)

  // Stores happen in the owner's thread and reach this one a moment later.
  let scrape = ''
  for (let tries = 0; tries < 100 && !/^coop_cache_stores_total\{[^}]*\} 3$/m.test(scrape); tries++) {
    if (tries > 0) await new Promise((resolve) => setTimeout(resolve, 50))
    const response = await fetch(`${base}/metrics`)
    t.is(response.status, 200)
    t.regex(response.headers.get('content-type') ?? '', /^text\/plain/)
    scrape = await response.text()
  }
  const { types, samples } = parse(scrape)
  t.is(types.get('coop_cache_calls_total'), 'counter')
  t.is(types.get('coop_cache_compute_duration'), 'histogram')
  const ours = samples.filter((s) => s.name.startsWith('coop_cache_'))
  t.deepEqual(ours.filter((s) => s.labels.cache !== 'pages'), [], 'every series names its cache')
  t.false(ours.some((s) => 'key' in s.labels))

  const pages = { cache: 'pages' }
  t.is(total(samples, 'coop_cache_calls_total', { ...pages, result: 'miss', outcome: 'computed' }), 3, 'home, home after the reset, about')
  t.is(total(samples, 'coop_cache_calls_total', { ...pages, result: 'hit' }), 2)
  t.is(total(samples, 'coop_cache_computes_total', { ...pages, outcome: 'ok' }), 3)
  t.is(total(samples, 'coop_cache_compute_duration_count', { ...pages, outcome: 'ok' }), 3)
  const seconds = total(samples, 'coop_cache_compute_duration_sum', { ...pages, outcome: 'ok' })
  t.true(seconds >= 0.14 && seconds < 30, `three renders of 50 ms took ${seconds} s`)
  t.is(total(samples, 'coop_cache_compute_duration_bucket', { ...pages, outcome: 'ok', le: '+Inf' }), 3)
  t.is(total(samples, 'coop_cache_compute_duration_bucket', { ...pages, outcome: 'ok', le: '0.025' }), 0, 'buckets in seconds: no 50 ms render is under 0.025')
  t.is(total(samples, 'coop_cache_computes_active', pages), 0)
  t.is(total(samples, 'coop_cache_stores_total', pages), 3)
  t.true(total(samples, 'coop_cache_stored_bytes_total', pages) > 0)
  t.is(total(samples, 'coop_cache_resets_total', { ...pages, origin: 'own' }), 1)
})
