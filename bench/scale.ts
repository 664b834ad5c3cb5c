// Scenario 5: how hit latency grows with the number of entries. For N from 1,000 up, two
// caches are filled with N small entries through cached() (a large memoryLimit, so all are
// stored): one with near copies on (a nearLimit that holds all N; its near copies are warmed
// by one pass over every key) and one with nearLimit: 0 (every hit crosses to the owner).
// Then hits on random existing keys are timed one at a time, beside lru-cache `get` on a
// cache of the same N in this thread.
//
// Both caches have one owner thread (threads: 1), so all N entries sit in one owner's store
// (the largest store a given N makes), and filling is fastest on a 2-core machine.
//
// Filling goes through cached() and is slow (tens of µs of CPU per entry, three messages),
// so the scenario keeps to a time budget (BENCH_SCALE_BUDGET seconds, default 75): sizes up to
// 100,000 always run; before 1,000,000 it projects the fill time from the rate measured so far
// and leaves out a series (near copies: fill + warm; nearLimit 0: fill) that would not fit,
// and says so.
//
// Alone: `npm run build && node dist/bench/scale.js` (BENCH_SCALE_MAX=100000 to stop lower)

import { LRUCache } from 'lru-cache'
import { cached, createCache, reset, type Cache, type CacheStats } from 'coop-cache'
import { Rounds, between, breathe, bytes, latencies, latenciesSync, ns, pipelined, seconds, table } from './lib/measure.js'
import { isEntry, runAlone, trace, type Options, type Section } from './lib/scenario.js'

const GiB = 1024 * 1024 * 1024
const IN_FLIGHT = 1000

/** A small, seeded generator, so every run samples the same keys. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x
  }
}

interface Series {
  readonly p: Rounds
  /** seconds to fill the cache through cached(); and for the near cache, to warm its copies */
  readonly fillSeconds: number
  readonly warmSeconds: number
  /** of the measured calls: near hits (near series), owner hits (nearLimit 0 series) */
  readonly share: number
  readonly entries: number
  readonly storedBytes: number
  readonly nearBytes: number
  /** RSS added by the fill, per entry (this thread garbage-collected before and after) */
  readonly rssPerEntry: number
}

interface Row {
  readonly n: number
  readonly near?: Series
  readonly far?: Series
  /** why a series was left out */
  readonly skipped: string[]
  readonly lru: Rounds
  readonly rss: number
  /** ms for reset() to resolve on the full cache (the nearLimit 0 one, else the near one), until every owner has dropped its entries */
  readonly resetMs: number | undefined
}

interface Samples {
  readonly near: number
  readonly far: number
}

const valueOf = (i: number) => ({ id: i })

async function measureSize(n: number, options: Options, samples: Samples, want: { near: boolean; far: boolean }, skipped: string[]): Promise<Row> {
  const keys = Array.from({ length: n }, (_, i) => `e:${i}`)
  const near = want.near ? await createCache({ name: `bench-scale-near-${n}`, threads: 1, memoryLimit: GiB, nearLimit: GiB }) : undefined
  const far = want.far ? await createCache({ name: `bench-scale-far-${n}`, threads: 1, memoryLimit: GiB, nearLimit: 0 }) : undefined
  try {
    const fill = async (cache: Cache, label: string) => {
      trace(`scale ${n}: filling ${label}`)
      await breathe()
      const rssBefore = process.memoryUsage().rss
      const start = process.hrtime.bigint()
      await pipelined(n, IN_FLIGHT, (i) => cached(cache, keys[i] as string, () => valueOf(i)))
      const took = seconds(start)
      await breathe()
      return { took, rssPerEntry: (process.memoryUsage().rss - rssBefore) / n }
    }
    // One cache after the other (side by side is slower on 2 cores). The near cache then gets
    // its near copies from one pass over every key: a thread keeps a copy of what an owner
    // sends it, not of what it computed itself.
    const farFill = far !== undefined ? await fill(far, 'nearLimit 0 cache') : undefined
    const nearFill = near !== undefined ? await fill(near, 'near cache') : undefined
    let warmSeconds = 0
    if (near !== undefined) {
      trace(`scale ${n}: warming near copies`)
      const start = process.hrtime.bigint()
      await pipelined(n, IN_FLIGHT, (i) => cached(near, keys[i] as string, () => valueOf(i)))
      warmSeconds = seconds(start)
    }

    const lru = new LRUCache<string, { id: number }>({ max: n })
    for (let i = 0; i < n; i++) lru.set(keys[i] as string, valueOf(i))

    const random = xorshift(n)
    const pick = () => keys[random() % n] as string
    const compute = () => {
      throw new Error('an existing key was computed during the scale benchmark')
    }
    type Name = 'near' | 'far' | 'lru'
    const subjects: Partial<Record<Name, { calls: number; op: (i: number) => unknown }>> = {
      lru: { calls: samples.near, op: () => lru.get(pick()) },
    }
    if (near !== undefined) subjects.near = { calls: samples.near, op: () => cached(near, pick(), compute) }
    if (far !== undefined) subjects.far = { calls: samples.far, op: () => cached(far, pick(), compute) }
    const results: Record<Name, Rounds> = { near: new Rounds(), far: new Rounds(), lru: new Rounds() }
    const names = Object.keys(subjects) as Name[]
    const once = async (name: Name, scale: number, into?: Rounds) => {
      trace(`scale ${n}: ${name}${into === undefined ? ' (warm-up)' : ''}`)
      const { calls, op } = subjects[name] as { calls: number; op: (i: number) => unknown }
      const sorted = name === 'lru' ? latenciesSync(Math.ceil(calls * scale), op) : await latencies(Math.ceil(calls * scale), op)
      into?.addLatencies(sorted)
    }
    for (const name of names) await once(name, 0.2)
    const [nearBefore, farBefore] = await Promise.all([near?.stats(), far?.stats()])
    for (let round = 0; round < options.rounds; round++) {
      for (let j = 0; j < names.length; j++) {
        await between()
        const name = names[(round + j) % names.length] as Name
        await once(name, 1, results[name])
      }
    }
    const [nearAfter, farAfter] = await Promise.all([near?.stats(), far?.stats()])
    const series = (before: CacheStats | undefined, after: CacheStats | undefined, filled: { took: number; rssPerEntry: number } | undefined, which: 'near' | 'far'): Series | undefined => {
      if (before === undefined || after === undefined || filled === undefined) return undefined
      const calls = options.rounds * (which === 'near' ? samples.near : samples.far)
      return {
        p: results[which],
        fillSeconds: filled.took,
        warmSeconds: which === 'near' ? warmSeconds : 0,
        share: which === 'near' ? (after.nearHits - before.nearHits) / calls : (after.hits - before.hits) / calls,
        entries: after.entries,
        storedBytes: after.bytes,
        nearBytes: after.nearBytes,
        rssPerEntry: filled.rssPerEntry,
      }
    }
    const nearSeries = series(nearBefore, nearAfter, nearFill, 'near')
    const farSeries = series(farBefore, farAfter, farFill, 'far')
    const full = far ?? near
    let resetMs: number | undefined
    if (full !== undefined) {
      const resetStarted = process.hrtime.bigint()
      await reset(full, 'after the scale run')
      resetMs = Number(process.hrtime.bigint() - resetStarted) / 1e6
    }
    return {
      resetMs,
      n,
      ...(nearSeries !== undefined ? { near: nearSeries } : {}),
      ...(farSeries !== undefined ? { far: farSeries } : {}),
      skipped,
      lru: results.lru,
      rss: process.memoryUsage().rss,
    }
  } finally {
    await near?.close()
    await far?.close()
  }
}

export async function scale(options: Options): Promise<Section> {
  const max = Number(process.env.BENCH_SCALE_MAX ?? (options.quick ? 10_000 : 1_000_000))
  const budget = Number(process.env.BENCH_SCALE_BUDGET ?? 75)
  const sizes = [1_000, 10_000, 100_000, 1_000_000].filter((n) => n <= max)
  const samples: Samples = options.quick ? { near: 5_000, far: 500 } : { near: 20_000, far: 2_000 }
  const started = process.hrtime.bigint()
  const rows: Row[] = []
  for (const n of sizes) {
    // Project this size's passes (fill, and warm) from the slowest pass per entry at the
    // largest size measured so far (smaller ones are dominated by start-up costs).
    const measured = rows.filter((r) => r.near !== undefined || r.far !== undefined)
    const latest = measured[measured.length - 1]
    const perEntry =
      latest === undefined
        ? 0
        : Math.max(...[latest.near, latest.far].flatMap((s) => (s !== undefined ? [s.fillSeconds / latest.n, s.warmSeconds / latest.n] : [])))
    const left = budget - seconds(started)
    const skipped: string[] = []
    const want = { near: true, far: true }
    const nearCost = 2 * n * perEntry
    const farCost = n * perEntry
    // Sampling after the fill takes a second or two. Sizes up to 100,000 always run in full.
    const margin = 2
    if (n > 100_000 && nearCost + farCost + margin > left) {
      if (nearCost + margin <= left) {
        want.far = false
        skipped.push(`nearLimit 0 left out: filling it would take about ${farCost.toFixed(0)} s more than the ${budget} s budget allows after the near cache`)
      } else if (farCost + margin <= left) {
        want.near = false
        skipped.push(`near copies left out: filling and warming would take about ${nearCost.toFixed(0)} s, ${left.toFixed(0)} s of the ${budget} s budget were left`)
      } else {
        skipped.push(`both left out: filling would take about ${(nearCost + farCost).toFixed(0)} s, ${left.toFixed(0)} s of the ${budget} s budget were left`)
        want.near = false
        want.far = false
      }
    }
    rows.push(await measureSize(n, options, samples, want, skipped))
    await breathe()
  }
  return report(rows, samples, budget, options)
}

function report(rows: Row[], samples: Samples, budget: number, options: Options): Section {
  const pair = (r: Rounds | undefined) => (r === undefined ? 'not measured' : `${ns(r.p50)} / ${ns(r.p99)}`)
  const withNear = rows.filter((r) => r.near !== undefined)
  const withFar = rows.filter((r) => r.far !== undefined)
  const skipped = rows.flatMap((r) => r.skipped.map((why) => `N = ${r.n.toLocaleString('en-US')}: ${why}.`))
  const growth = (list: Row[], get: (r: Row) => Rounds | undefined, label: string) => {
    const a = list[0]
    const b = list[list.length - 1]
    if (a === undefined || b === undefined || a === b) return undefined
    return `${(((get(b) as Rounds).p50 / (get(a) as Rounds).p50)).toFixed(2)}x ${label} (${a.n.toLocaleString('en-US')} → ${b.n.toLocaleString('en-US')})`
  }
  const growths = [
    growth(withNear, (r) => r.near?.p, 'with near copies'),
    growth(withFar, (r) => r.far?.p, 'with nearLimit 0'),
    growth(rows, (r) => r.lru, 'for lru-cache `get`'),
  ].filter((x) => x !== undefined)
  const markdown = [
    `Entries \`{ id }\` under keys \`e:<i>\`, one owner thread, memoryLimit and nearLimit 1 GiB (all entries stored, all near copies kept). Hits on keys drawn at random (seeded) from the N, timed one at a time: ${samples.near.toLocaleString('en-US')} per round with near copies (and for lru-cache), ${samples.far.toLocaleString('en-US')} per round with nearLimit 0; ${options.rounds} rounds, medians. Each cache is filled through \`cached()\` with ${IN_FLIGHT} calls in flight; the near cache then gets its copies from one more pass over every key. Sizes go up to 1,000,000; filling through \`cached()\` is what takes the time, so the scenario keeps to a ${budget} s budget: sizes up to 100,000 always run in full, and at 1,000,000 a series whose projected fill would not fit is left out (and listed below the table).`,
    '',
    table(
      ['N entries', 'near copy hit p50 / p99', 'nearLimit 0 hit p50 / p99', 'lru-cache `get` p50 / p99', 'fill (s), nearLimit 0 / near', 'warm near (s)', 'bytes counted (nearLimit 0 cache)', 'RSS its fill added, per entry', 'near bytes', 'RSS after', '`reset()` (ms)'],
      rows.map((r) => [
        r.n.toLocaleString('en-US'),
        pair(r.near?.p),
        pair(r.far?.p),
        pair(r.lru),
        `${r.far?.fillSeconds.toFixed(1) ?? '–'} / ${r.near?.fillSeconds.toFixed(1) ?? '–'}`,
        r.near?.warmSeconds.toFixed(1) ?? '–',
        r.far !== undefined ? bytes(r.far.storedBytes) : '–',
        r.far !== undefined && r.n >= 100_000 ? `${Math.round(r.far.rssPerEntry)} B` : '–',
        r.near !== undefined ? bytes(r.near.nearBytes) : '–',
        bytes(r.rss),
        r.resetMs === undefined ? '–' : r.resetMs.toFixed(1),
      ]),
    ),
    '',
    skipped.length > 0 ? `Left out for the time budget: ${skipped.join(' ')}` : 'Every size was measured with both caches within the time budget.',
    '',
    `Sanity: share of near-cache calls served from a near copy: ${withNear.map((r) => `${((r.near as Series).share * 100).toFixed(1)}%`).join(', ')}; share of nearLimit-0 calls counted as owner hits: ${withFar.map((r) => `${((r.far as Series).share * 100).toFixed(1)}%`).join(', ')}; entries stored: ${rows.map((r) => (r.far ?? r.near)?.entries.toLocaleString('en-US') ?? '–').join(', ')}. RSS per entry is given from 100,000 entries up; below, heap growth in steps hides it.`,
    '',
    growths.length > 0 ? `p50 grows ${growths.join('; ')}.` : '',
  ].join('\n')
  const figures: Record<string, number> = {}
  for (const r of rows) {
    if (r.near !== undefined) {
      figures[`near${r.n}P50`] = r.near.p.p50
      figures[`near${r.n}P99`] = r.near.p.p99
      figures[`nearFill${r.n}Seconds`] = r.near.fillSeconds
    }
    if (r.far !== undefined) {
      figures[`far${r.n}P50`] = r.far.p.p50
      figures[`far${r.n}P99`] = r.far.p.p99
      figures[`fill${r.n}Seconds`] = r.far.fillSeconds
      figures[`rssPerEntry${r.n}`] = r.far.rssPerEntry
      figures[`storedBytes${r.n}`] = r.far.storedBytes
    }
    figures[`lru${r.n}P50`] = r.lru.p50
    figures[`rss${r.n}`] = r.rss
    if (r.resetMs !== undefined) figures[`reset${r.n}Ms`] = r.resetMs
  }
  figures.minN = rows[0]?.n ?? 0
  figures.maxN = rows[rows.length - 1]?.n ?? 0
  figures.maxNearN = withNear[withNear.length - 1]?.n ?? 0
  figures.maxFarN = withFar[withFar.length - 1]?.n ?? 0
  figures.skipped = skipped.length
  return { title: '5. Hit latency against the number of entries', markdown, figures }
}

if (isEntry(import.meta.url)) await runAlone(scale)
