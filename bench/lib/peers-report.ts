// The section of scenario 8 (bench/peers.ts) in RESULTS.md: every table, each ratio of
// coop-cache to the best peer, and the figures the closing section reasons from (lib/aims-peers.ts
// writes what they say of the aims).

import { cpus } from 'node:os'
import type { Results, Sizes } from '../peers.js'
import { peers as peersVerdict } from './aims-peers.js'
import { REDIS_URL } from './brokers.js'
import type { Filled } from './fill-process.js'
import { bytes, median, ns, quantile, rate, ratio, table } from './measure.js'
import { FIRST_SUBJECTS, HOT_SUBJECTS, type Across } from './peers-across.js'
import { LOCAL_COMPUTE_MS } from './peers-local.js'
import { COMPUTE_MS, HOT, IN_FLIGHT, WATCH_MS, type Tally } from './peers-process.js'
import { COOPS, LIBS, LIB_LABEL, TTL_S, type Coop, type Lib } from './subjects.js'
import type { Options, Section } from './scenario.js'

/** coop / the best peer, and which peer that was; `higher`: whether more is better. */
function againstBest(coop: number, peers: Partial<Record<string, number>>, higher: boolean): { x: number; best: string } {
  const entries = Object.entries(peers).filter((e): e is [string, number] => Number.isFinite(e[1]))
  if (entries.length === 0) return { x: Number.NaN, best: 'n/a' }
  const [best, value] = entries.reduce((m, e) => (higher ? (e[1] > m[1] ? e : m) : e[1] < m[1] ? e : m))
  return { x: coop / value, best }
}

const PEER_LABEL: Record<string, string> = { ...LIB_LABEL, lru: 'lru-cache `await fetch()`', get: 'plain Redis `GET`' }
const msf = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)} ms` : 'n/a')

export function report(results: Results, sizes: Sizes, options: Options, run: { startedAt: Date; load: number[] }): Section {
  const figures: Record<string, number> = {
    rounds: options.rounds,
    stampedeKeys: sizes.stampedeKeys,
    stampedeCallers: sizes.stampedeCallers,
    computeMs: COMPUTE_MS,
    localComputeMs: LOCAL_COMPUTE_MS,
    localKeys: sizes.localKeys,
    localCallers: sizes.localCallers,
    entries: sizes.entries,
    rssIds: sizes.rssIds,
    rssStrings: sizes.rssStrings,
    inFlight: IN_FLIGHT,
    watchSeconds: WATCH_MS / 1000,
    load1: run.load[0] ?? Number.NaN,
  }
  const cpu = cpus()
  const out: string[] = [
    `Run on ${cpu[0]?.model.trim() ?? 'unknown'} (${cpu.length} cores), Node ${process.version}, ${run.startedAt.toISOString()}; **load average at the start of this scenario ${run.load.map((x) => x.toFixed(2)).join(', ')}** (1, 5, 15 min). ${options.rounds} rounds of every measurement, the subjects interleaved and their order rotated each round; every figure is the median over rounds, every ratio is taken within this run.`,
    '',
    `The peers, each set up as its own docs recommend for the job (bench/lib/subjects.ts): **lru-cache** \`fetch()\` with a \`fetchMethod\`, in one process; **bentocache** 1.6.1 multi-tier — memory L1 (\`memoryDriver({ maxSize: '10mb' })\`, which keeps values as JSON), Redis L2 (\`redisDriver\`) and a Redis bus (\`redisBusDriver\`) that tells the other processes' L1s of a change; its stampede protection is an in-memory lock, per process; **async-cache-dedupe** 3.4.0 with its Redis storage (an ioredis client): a hit is a Redis \`GET\` and a \`JSON.parse\`, calls are merged within a process. coop-cache runs on the Redis bus (\`redisBus\`, without a \`secret\`; scenario 7 measures what one costs), one owner thread per process (three processes share the cores), its other options the defaults, in two configurations: \`replicas: 1\` and \`replicas: 'all'\` (the default). bentocache declares ioredis 5 as its peer and runs here on the project's ioredis 6 (package.json overrides it; it works). Every Redis key of a peer carries the run's prefix, expires within ${TTL_S / 60} minutes and is deleted at the end; async-cache-dedupe's \`clear()\` without a name would FLUSHALL the Redis server, so the scenario only calls \`clear(name)\`.`,
  ]
  const across = results.across
  if (across === undefined) out.push('', `**The rows across processes (1–5) were left out:** Redis at ${REDIS_URL} is not reachable (${results.why}).`)
  else acrossSection(across, sizes, figures, out)
  localSection(results, sizes, options, figures, out)
  out.push('', '### What these figures say', '', peersVerdict(figures).join('\n\n'))
  return { title: '8. Beside the peers: lru-cache, bentocache, async-cache-dedupe', markdown: out.join('\n'), figures }
}

function acrossSection(across: Across, sizes: Sizes, figures: Record<string, number>, out: string[]): void {
  // ---- 1. hot hit ----
  const h = across.hot
  for (const s of HOT_SUBJECTS) figures[`hot_${s}Rate`] = h[s].rate
  const hotBest = againstBest(h.coopAll.rate, { lru: h.lru.rate, bento: h.bento.rate, acd: h.acd.rate }, true)
  figures.hotVsBest = hotBest.x
  const tallyA = across.tally[0] as Tally
  figures.hotNearShare = tallyA.hotCalls > 0 ? tallyA.hotNearHits / tallyA.hotCalls : Number.NaN
  out.push(
    '',
    '### 1. A hit on a hot key, one thread',
    '',
    `${HOT} hot keys held by every subject, asked one call after another in process A, each call awaited: ${sizes.hotCalls.toLocaleString('en-US')} calls per round (${sizes.hotRedisCalls.toLocaleString('en-US')} for async-cache-dedupe, whose every hit is a Redis round trip). coop-cache \`await cached()\` from a near copy (the cache with \`replicas: 'all'\`; a near hit does not depend on it), lru-cache \`await fetch()\`, bentocache \`await getOrSet()\` from its L1, async-cache-dedupe's defined function. ${h.coopAll.rates.length} rounds: a round of a Redis-backed subject (bentocache, async-cache-dedupe) left whichever round came next at about half its rate, so each round begins with the two in-memory subjects, coop-cache and lru-cache first in turns, and each of them comes right after a Redis-backed round equally often.`,
    '',
    table(
      ['subject', 'calls/s, one at a time', 'spread of rounds'],
      HOT_SUBJECTS.map((s) => [s === 'coopAll' ? '**coop-cache `await cached()` (near copy)**' : PEER_LABEL[s] as string, rate(h[s].rate), `${h[s].spread.toFixed(0)}%`]),
    ),
    '',
    `coop vs best peer (${PEER_LABEL[hotBest.best]}): **${ratio(hotBest.x)}** the rate. Share of coop-cache's measured calls served from a near copy: ${(figures.hotNearShare * 100).toFixed(1)}%.`,
  )

  // ---- 2. stampede ----
  const st = across.stampede
  const stRows: string[][] = []
  for (const lib of LIBS) {
    const counts = st[lib].map((x) => x.computations)
    const wall = median(st[lib].map((x) => x.wallMs))
    figures[`st_${lib}Computations`] = median(counts)
    figures[`st_${lib}Exact`] = counts.every((n) => n === sizes.stampedeKeys) ? 1 : 0
    figures[`st_${lib}WallMs`] = wall
    stRows.push([COOPS.includes(lib as Coop) ? `**${LIB_LABEL[lib]}**` : LIB_LABEL[lib], String(median(counts)), counts.join(', '), st[lib].map((x) => x.perProcess.join('/')).join(', '), msf(wall)])
  }
  const stWrong = LIBS.reduce((s, lib) => s + st[lib].reduce((t, x) => t + x.wrong, 0), 0)
  const stErrors = LIBS.flatMap((lib) => st[lib].flatMap((x) => x.errors))
  figures.stWrong = stWrong
  figures.stErrors = stErrors.length
  out.push(
    '',
    '### 2. A cold-key stampede across three processes',
    '',
    `${sizes.stampedeCallers.toLocaleString('en-US')} callers in each of A, B and C on K = ${sizes.stampedeKeys} cold keys (caller j asks key j mod K), each process's callers started together when told; each \`fn\` counts itself in its process and takes ${COMPUTE_MS} ms; new keys each round. Wall time: from the release (this process, just before it told the three) to the last answer in any of them, on the machine's monotonic clock.`,
    '',
    table(['subject', 'computations, median', 'every round', 'per process (A/B/C), every round', 'wall time, median'], stRows),
    '',
    ...COOPS.map((coop) => {
      const x = figures[`st_${coop}WallMs`]! / Math.min(figures.st_bentoWallMs!, figures.st_acdWallMs!)
      figures[`st_${coop}VsBest`] = x
      return `${LIB_LABEL[coop]}: wall time vs the best peer **${ratio(x)}**; vs async-cache-dedupe ${ratio(figures[`st_${coop}WallMs`]! / figures.st_acdWallMs!)}.`
    }),
    '',
    `Answers that were not the asked key's value: ${stWrong}; errors: ${stErrors.length === 0 ? 'none' : stErrors.slice(0, 3).join('; ')}.`,
  )

  // ---- 3 and 4. first and second hit ----
  const f = across.first
  for (const s of FIRST_SUBJECTS) {
    figures[`first_${s}P50`] = f[s].latency.p50
    figures[`first_${s}P99`] = f[s].latency.p99
    figures[`first_${s}Pipe`] = f[s].pipelined.rate
    if (s !== 'floor' && s !== 'get') figures[`again_${s}P50`] = f[s].again.p50
  }
  const heldC = across.replicatedToC
  figures.heldInCAll = heldC.coopAll
  figures.heldInC1 = heldC.coop1
  figures.firstKeys = across.firstKeys
  const firstRows = FIRST_SUBJECTS.map((s) => {
    const label = s === 'floor' ? 'the Redis bus round trip, C → A → C (`redisBus` ping/pong, **the bus floor**)' : s === 'get' ? 'plain Redis `GET` + `JSON.parse` of an existing key (ioredis)' : COOPS.includes(s as Coop) ? `**${LIB_LABEL[s as Lib]}**` : LIB_LABEL[s as Lib]
    return [label, ns(f[s].latency.p50), ns(f[s].latency.p99), rate(f[s].pipelined.rate), `${f[s].pipelined.spread.toFixed(0)}%`, s === 'floor' || s === 'get' ? '–' : ns(f[s].again.p50)]
  })
  const peersP50 = { bento: f.bento.latency.p50, acd: f.acd.latency.p50 }
  const peersPipe = { bento: f.bento.pipelined.rate, acd: f.acd.pipelined.rate }
  const peersAgain = { bento: f.bento.again.p50, acd: f.acd.again.p50 }
  const ratioRows = COOPS.map((coop) => {
    const p50 = againstBest(f[coop].latency.p50, peersP50, false)
    const pipe = againstBest(f[coop].pipelined.rate, peersPipe, true)
    const again = againstBest(f[coop].again.p50, peersAgain, false)
    figures[`first_${coop}VsGet`] = f[coop].latency.p50 / f.get.latency.p50
    figures[`first_${coop}VsFloor`] = f[coop].latency.p50 / f.floor.latency.p50
    figures[`first_${coop}VsBest`] = p50.x
    figures[`again_${coop}VsBest`] = again.x
    return [
      LIB_LABEL[coop],
      `${ratio(p50.x)} (${p50.best})`,
      `${ratio(pipe.x)} (${pipe.best})`,
      ratio(figures[`first_${coop}VsGet`]!),
      ratio(figures[`first_${coop}VsFloor`]!),
      `${ratio(again.x)} (${again.best})`,
    ]
  })
  const replicated = heldC.coopAll >= across.firstKeys
  out.push(
    '',
    '### 3–4. The first hit in C of a value computed in A, and the second',
    '',
    `A computed ${across.firstKeys.toLocaleString('en-US')} keys per subject (values \`{ key, name, tags }\`; for coop-cache, keys that A owns in each cache, picked as every process hashes them, so that C must get them from A unless they were replicated to C); then C asks for each key once: ${sizes.latencyCalls.toLocaleString('en-US')} calls one at a time per round over fresh keys (p50, p99), and ${sizes.pipelinedCalls.toLocaleString('en-US')} with ${IN_FLIGHT} in flight; right after its one-at-a-time pass, each subject is asked the same keys again (the second hit). A's fill added ${heldC.coopAll.toLocaleString('en-US')} entries in C to the \`replicas: 'all'\` cache and ${heldC.coop1.toLocaleString('en-US')} to the \`replicas: 1\` one${replicated ? ': the values were replicated to C.' : `: **nothing was replicated to C, so in this build \`replicas: 'all'\` behaved as \`replicas: 1\`** (replication is being built on main; until it lands, both rows measure a value fetched from its owner).`}`,
    '',
    table(['subject', 'first hit p50', 'p99', `first hits/s, ${IN_FLIGHT} in flight`, 'spread of rounds (in flight)', 'second hit p50'], firstRows),
    '',
    table(['coop-cache', 'first hit p50 vs best peer', `in flight vs best peer`, 'p50 vs plain `GET`', 'p50 vs the bus floor', 'second hit p50 vs best peer'], ratioRows),
    '',
    `Ratios of times: below 1 is faster than the peer; of rates: above 1 is faster.`,
  )
  const tallyC = across.tally[2] as Tally
  figures.firstNearShare = tallyC.firstCalls > 0 ? tallyC.firstNearHits / tallyC.firstCalls : Number.NaN
  out.push(
    '',
    `Each process had served a call of its own on every subject before A's fill, as a process in service has (coop-cache offers copies from other processes only to threads that keep near copies). Share of coop-cache's (\`replicas: 'all'\`) first hits in C served from a near copy of the thread that asked: ${(figures.firstNearShare * 100).toFixed(1)}%.`,
  )

  // ---- 5. clear ----
  const cl = across.clears
  const clRows: string[][] = []
  const clErrors: string[] = []
  // A value not gone within WATCH_MS counts as infinitely late: it moves p99, and is counted.
  const q = (xs: number[]) => {
    const sorted = Float64Array.from(xs.map((x) => (Number.isFinite(x) ? x : Number.POSITIVE_INFINITY))).sort()
    return [quantile(sorted, 0.5), quantile(sorted, 0.99)] as const
  }
  const msInf = (x: number) => (x === Number.POSITIVE_INFINITY ? `> ${WATCH_MS / 1000} s` : msf(x))
  for (const lib of LIBS) {
    const watched = cl[lib].filter((x) => x.watched)
    const [rP50, rP99] = q(cl[lib].filter((x) => !x.watched).map((x) => x.resolved))
    const [gP50, gP99] = q(watched.map((x) => Math.max(x.b, x.c)))
    const [eP50, eP99] = q(watched.map((x) => (Number.isFinite(x.b) && Number.isFinite(x.c) ? Math.max(x.resolved, x.b, x.c) : Number.NaN)))
    const notGone = watched.filter((x) => !Number.isFinite(x.b) || !Number.isFinite(x.c)).length
    // A look that began after the call had resolved in A, and still found the old value.
    const late = watched.filter((x) => x.lastSeen > x.resolved).length
    figures[`clr_${lib}ResolvedP50`] = rP50
    figures[`clr_${lib}ResolvedP99`] = rP99
    figures[`clr_${lib}GoneP50`] = gP50
    figures[`clr_${lib}GoneP99`] = gP99
    figures[`clr_${lib}EverywhereP50`] = eP50
    figures[`clr_${lib}EverywhereP99`] = eP99
    figures[`clr_${lib}NotGone`] = notGone
    figures[`clr_${lib}Late`] = late
    figures[`clr_${lib}Watched`] = watched.length
    clErrors.push(...cl[lib].flatMap((x) => (x.error !== undefined ? [`${lib}: ${x.error}`] : [])))
    clRows.push([
      COOPS.includes(lib as Coop) ? `**${LIB_LABEL[lib]}**` : LIB_LABEL[lib],
      lib === 'coop1' || lib === 'coopAll' ? '`reset(cache, version)`' : lib === 'bento' ? '`clear()`' : '`clear(name)`',
      `**${msInf(rP50)} / ${msInf(rP99)}**`,
      `${msInf(gP50)} / ${msInf(gP99)}`,
      `${msInf(eP50)} / ${msInf(eP99)}`,
      `${late} of ${watched.length}`,
      String(notGone),
      ns(median(watched.flatMap((x) => x.lookNs))),
    ])
  }
  const [fP50, fP99] = q(across.clearFloor)
  figures.clr_floorP50 = fP50
  figures.clr_floorP99 = fP99
  clRows.push(['the Redis bus alone: A broadcasts a ping, B and C each answer (**the floor**)', '–', `**${msInf(fP50)} / ${msInf(fP99)}**`, '–', '–', '–', '–', '–'])
  figures.clrDbsize = across.dbsize
  figures.clears = sizes.clears
  out.push(
    '',
    '### 5. Invalidating everything, until no process serves the old value',
    '',
    `Before each clear, A stored ${sizes.entries.toLocaleString('en-US')} entries (new keys each time) and B and C each asked for ${sizes.held} of them, so each held them (coop-cache: kept in the process; bentocache: in its L1). Then A invalidated everything, and the time from its call to the call resolving there was read on the machine's monotonic clock. Every other clear, B and C watched one of the keys they held, from before A's call: looking, one look after another with a turn of the event loop between two (so that a bus message can be read), at what that process would serve without computing — coop-cache \`peek\`, bentocache \`get\` (its L1, then L2), async-cache-dedupe its storage's \`get\` — and noting the first look that found the old value gone. Watching keeps B and C busy on the cores A and Redis share, so the time to resolve is given from the unwatched clears; the watched ones give when the old value was gone in both B and C, "everywhere" (the latest of resolved in A, gone in B, gone in C), and how often a look that began after the call had resolved in A still found the old value. ${sizes.clears} clears of each kind per subject (after one not counted), interleaved, 20 ms apart; with so few, p99 is the slowest. A watched value still served after ${WATCH_MS / 1000} s counts as not gone. Redis held ${Number.isFinite(across.dbsize) ? across.dbsize.toLocaleString('en-US') : 'an unknown number of'} keys (everyone's) as the clears began, and a SCAN or KEYS walks all of them. 1,000,000 entries were left out: storing them in each peer and in Redis before every clear would take far past the time budget (scenario 5 measures \`reset()\` at sizes up to 1,000,000 in one process).`,
    '',
    table(['subject', 'call', 'resolved in A (unwatched), p50 / p99', 'watched: old value gone in B and C, p50 / p99', 'watched: everywhere, p50 / p99', 'watched: old value found by a look begun after it resolved', 'watched: not gone', 'one look, median'], clRows),
    '',
    `The floor row is the bus's own part of any clear that waits to hear from both other processes: a 16-byte ping that A broadcasts on the Redis bus and B and C each send straight back (bench/lib/floor.ts), ${across.clearFloor.length} of them, one before each clear, 20 ms after the one before, so that the processes and Redis have gone idle in between, as they have before a clear. An idle process answers later than a busy one (scenario 7's floor, pings back to back, is a fraction of it): the wake-ups are part of the floor.`,
    '',
    ...COOPS.map((coop) => `${LIB_LABEL[coop]}: \`reset()\` resolved in A (unwatched), p50 / p99, vs the floor: **${ratio(figures[`clr_${coop}ResolvedP50`]! / fP50)}** / ${ratio(figures[`clr_${coop}ResolvedP99`]! / fP99)}.`),
    '',
    ...COOPS.map((coop) => {
      const x = againstBest(figures[`clr_${coop}EverywhereP50`]!, { bento: figures.clr_bentoEverywhereP50, acd: figures.clr_acdEverywhereP50 }, false)
      figures[`clr_${coop}VsBest`] = x.x
      return `${LIB_LABEL[coop]}: everywhere p50 (watched clears) vs the best peer (${x.best}) **${ratio(x.x)}**.`
    }),
    ...(figures.clr_bentoNotGone! > 0
      ? [
          '',
          `bentocache: in ${figures.clr_bentoNotGone} watched clear(s) the old value was still served after ${WATCH_MS / 1000} s. Its \`clear()\` empties the L1, SCANs and UNLINKs the L2 and publishes on the bus all at once (\`Promise.all\`), and a \`get\` that misses the L1 reads the L2 and keeps what it finds in the L1: a process that hears the bus before A's UNLINK has reached the key reads the old value from the L2 again and serves it from its L1 until its ttl.`,
        ]
      : []),
    ...(clErrors.length > 0 ? ['', `**Calls that rejected:** ${clErrors.slice(0, 3).join('; ')}.`] : []),
  )
  const unexpected = LIBS.map((lib) => `${lib} ${across.tally.reduce((s, t) => s + t.unexpected[lib], 0)}`).join(', ')
  const dropped = COOPS.map((coop) => `${coop} ${across.tally.reduce((s, t) => s + t.dropped[coop], 0)}`).join(', ')
  out.push('', `Sanity: computations where every call should have been a hit (all processes): ${unexpected}; coop-cache bus messages refused (\`stats().dropped\`): ${dropped}.`)
}

function localSection(results: Results, sizes: Sizes, options: Options, figures: Record<string, number>, out: string[]): void {
  const { rss, rate: fillRate } = results.filled
  const per = (x: Filled, n: number) => (x.rssFull - x.rssStart) / n
  const rssRows: string[][] = []
  for (const [shape, n, label] of [['id', sizes.rssIds, '`{ id }`'], ['kb', sizes.rssStrings, '1 KB string']] as const) {
    for (const lib of ['coop', 'lru'] as const) {
      const x = rss[shape][lib]
      figures[`rss_${lib}_${shape}PerEntry`] = per(x, n)
      figures[`rss_${lib}_${shape}Empty`] = x.rssEmpty
      figures[`rss_${lib}_${shape}Beyond`] = (x.rssFull - x.rssStart - x.rssEmpty) / n
      rssRows.push([`${n.toLocaleString('en-US')} × ${label}`, lib === 'coop' ? '**coop-cache `cached()`**' : 'lru-cache `fetch()`', `${per(x, n).toFixed(0)} B`, bytes(x.rssEmpty), bytes(x.rssFull - x.rssStart), x.entries.toLocaleString('en-US')])
    }
    figures[`rss_${shape}Ratio`] = figures[`rss_coop_${shape}PerEntry`]! / figures[`rss_lru_${shape}PerEntry`]!
  }
  figures.fillCoopRate = rss.id.coop.rate
  figures.fillLruRate = rss.id.lru.rate
  figures.fillRatio = rss.id.coop.rate / rss.id.lru.rate
  figures.fillSmallCoopRate = fillRate.coop.rate
  figures.fillSmallLruRate = fillRate.lru.rate
  figures.fillSmallRatio = fillRate.coop.rate / fillRate.lru.rate
  out.push(
    '',
    '### 6–7. Memory per entry, and the rate of a fill',
    '',
    `Each fill in a fresh process with gc exposed: N distinct keys (\`e:<i>\`, each made as its call is), ${'1,000'} calls in flight, values \`{ id }\` or flat strings of 1,000 one-byte characters, through coop-cache \`cached()\` (one owner thread, memoryLimit 1 GiB, so every entry is stored; the process waits until its owner has stored all N) or lru-cache \`fetch()\` (\`max: N\`, a \`fetchMethod\`). RSS read after a gc before the cache was made and after the fill; per entry = the difference / N, the empty cache included (its share is shown apart). Three fills per row, the subjects taking turns, and the one whose RSS grew by the median is shown (one fill's RSS moved by up to an eighth from one to the next); the rate of the 1,000,000 row is that fill's, and is also given as the median of ${options.rounds} fills of ${sizes.fillRateN.toLocaleString('en-US')} \`{ id }\`, a fresh process each, interleaved.`,
    '',
    table(['entries', 'subject', 'RSS per entry', 'RSS of the empty cache', 'RSS added in all', 'entries held at the end'], rssRows),
    '',
    `RSS per entry, coop / lru: \`{ id }\` **${ratio(figures.rss_idRatio!)}**, 1 KB strings **${ratio(figures.rss_kbRatio!)}**.`,
    '',
    table(
      ['fill', 'coop-cache `cached()`', 'lru-cache `fetch()`', 'coop / lru'],
      [
        [`${sizes.rssIds.toLocaleString('en-US')} × \`{ id }\`, the fill of the RSS row`, rate(rss.id.coop.rate), rate(rss.id.lru.rate), `**${ratio(figures.fillRatio)}**`],
        [`${sizes.rssStrings.toLocaleString('en-US')} × 1 KB string, the fill of the RSS row`, rate(rss.kb.coop.rate), rate(rss.kb.lru.rate), ratio(rss.kb.coop.rate / rss.kb.lru.rate)],
        [`${sizes.fillRateN.toLocaleString('en-US')} × \`{ id }\`, median of ${options.rounds}`, `${rate(fillRate.coop.rate)} (spread ${fillRate.coop.spread.toFixed(0)}%)`, `${rate(fillRate.lru.rate)} (spread ${fillRate.lru.spread.toFixed(0)}%)`, ratio(figures.fillSmallRatio)],
      ],
    ),
  )

  const local = results.local
  const lc = local.coop.map((x) => x.computations)
  const ll = local.lru.map((x) => x.computations)
  figures.localCoopComputations = median(lc)
  figures.localLruComputations = median(ll)
  figures.localCoopWallMs = median(local.coop.map((x) => x.wallMs))
  figures.localLruWallMs = median(local.lru.map((x) => x.wallMs))
  figures.localRatio = figures.localCoopWallMs / figures.localLruWallMs
  const wrong = [...local.coop, ...local.lru].reduce((s, x) => s + x.wrong, 0)
  const errors = [...local.coop, ...local.lru].flatMap((x) => x.errors)
  out.push(
    '',
    '### 8. A cold-key stampede in one process',
    '',
    `${sizes.localCallers.toLocaleString('en-US')} callers in this process, started together, on K = ${sizes.localKeys} cold keys; each \`fn\` counts itself and takes ${LOCAL_COMPUTE_MS} ms. A fresh cache each round, made before the clock starts: coop-cache with its default options (no bus, \`threads\` = the cores), lru-cache with a \`fetchMethod\`; one round of each runs first, not measured (the process's first stampedes run cold code). Wall time from the first call to the last answer.`,
    '',
    table(
      ['subject', 'computations, every round', 'wall time, median', 'every round'],
      [
        ['**coop-cache `cached()`**', lc.join(', '), msf(figures.localCoopWallMs), local.coop.map((x) => x.wallMs.toFixed(1)).join(', ')],
        ['lru-cache `fetch()`', ll.join(', '), msf(figures.localLruWallMs), local.lru.map((x) => x.wallMs.toFixed(1)).join(', ')],
      ],
    ),
    '',
    `Wall time coop / lru: **${ratio(figures.localRatio)}** (the floor is one \`fn\`, ${LOCAL_COMPUTE_MS} ms). Wrong answers: ${wrong}; errors: ${errors.length === 0 ? 'none' : errors.slice(0, 3).join('; ')}.`,
  )
}
