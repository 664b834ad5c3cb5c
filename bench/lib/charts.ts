// The headline comparisons of a bench run as SVG charts (bench/charts/*.svg, shown in the
// README): each chart is drawn from the figures of one scenario's Section, so a run that records
// only some scenarios (`--record cluster`) redraws their charts and leaves the others as the last
// run drew them. As in aims.ts, nothing here is a figure of its own: every bar is a figure of the
// run, and a figure that is missing leaves its bar out.

import { BUS_NAMES, PIPE_AIM } from './aims.js'
import { ns, rate, ratio } from './measure.js'
import { barChart, type Bar, type Chart, type Group } from './svg.js'

type Figures = Record<string, number>

/** A chart as a scenario draws it; the footer, which names the run, is added by charts(). */
type Drawn = Omit<Chart, 'footer'>

/** What the footer of every chart says about the run it came from. */
export interface RunInfo {
  /** the command that ran it, as a user would type it */
  readonly command: string
  readonly date: Date
  readonly machine: string
  readonly cores: number
  readonly node: string
  /** 1, 5 and 15 minute load average at the start of the run */
  readonly load: readonly number[]
  readonly rounds: number
}

export interface ChartFile {
  /** a file name in bench/charts/ */
  readonly file: string
  readonly svg: string
}

const get = (f: Figures, key: string): number => f[key] ?? Number.NaN
const count = (x: number) => (Number.isFinite(x) ? x.toLocaleString('en-US') : 'n/a')
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(x < 10 ? 2 : 1)} ms` : 'n/a')

/** `1.60x (aim ≥ 1.00x: met)` */
function verdict(x: number, aim: '≥' | '≤', target: number): string {
  const met = aim === '≥' ? x >= target : x <= target
  return `${ratio(x)} (aim ${aim} ${ratio(target)}: ${Number.isFinite(x) ? (met ? 'met' : 'missed') : 'not measured'})`
}

const bar = (label: string, value: number, text: string, kind: Bar['kind']): Bar => ({ label, value, text, kind })

function hit(f: Figures): Drawn {
  const side = (who: 'main' | 'worker', label: string): Group => ({
    label,
    note: `coop-cache / lru-cache: ${verdict(get(f, `${who}RatioVsFetch`), '≥', 1)}`,
    bars: [
      bar('coop-cache await cached() hit', get(f, `${who}CoopRate`), rate(get(f, `${who}CoopRate`)), 'ours'),
      bar('coop-cache, a cache with a bus', get(f, `${who}BusRate`), rate(get(f, `${who}BusRate`)), 'alt'),
      bar('lru-cache await fetch() hit', get(f, `${who}FetchRate`), rate(get(f, `${who}FetchRate`)), 'other'),
    ],
  })
  return {
    title: 'A hit on a hot key: coop-cache beside lru-cache',
    subtitle: ['Near copies on (the default); calls one at a time, each awaited; 64 hot keys.'],
    panels: [
      {
        heading: 'Calls per second (higher is better)',
        groups: [
          side('main', 'Main thread'),
          side('worker', 'Worker thread that attaches'),
          {
            label: 'Both threads at once, per thread',
            note: `coop-cache / lru-cache: ${ratio(get(f, 'togetherRatio'))}`,
            bars: [
              bar('coop-cache await cached() hit', get(f, 'togetherCoopRate'), rate(get(f, 'togetherCoopRate')), 'ours'),
              bar('lru-cache await fetch() hit', get(f, 'togetherFetchRate'), rate(get(f, 'togetherFetchRate')), 'other'),
            ],
          },
        ],
      },
    ],
  }
}

function crossThread(f: Figures): Drawn {
  const side = (who: 'main' | 'worker', label: string, what: 'P50' | 'PipeRate'): Group => {
    const coop = get(f, `${who}Coop${what}`)
    const bare = get(f, `${who}Bare${what}`)
    const show = what === 'P50' ? ns : rate
    return {
      label,
      note: `coop-cache / bare: ${what === 'P50' ? verdict(get(f, `${who}LatencyRatio`), '≤', 1.5) : verdict(get(f, `${who}PipeRatio`), '≥', PIPE_AIM)}`,
      bars: [bar('coop-cache hit, nearLimit 0', coop, show(coop), 'ours'), bar('bare postMessage round trip', bare, show(bare), 'other')],
    }
  }
  return {
    title: 'A hit that crosses threads, beside a bare postMessage round trip',
    subtitle: ['nearLimit: 0, so every hit asks the owner thread (one owner thread, against one echo worker).'],
    panels: [
      { heading: 'p50 latency, one call at a time (lower is better)', groups: [side('main', 'Main thread', 'P50'), side('worker', 'Worker thread', 'P50')] },
      { heading: `Calls per second, ${count(get(f, 'inFlight'))} in flight (higher is better)`, groups: [side('main', 'Main thread', 'PipeRate'), side('worker', 'Worker thread', 'PipeRate')] },
    ],
  }
}

function stampede(f: Figures): Drawn {
  const keys = get(f, 'keys')
  const threads = get(f, 'threads')
  const label = `${count(threads)} threads × ${count(get(f, 'callersPerThread'))} callers, K = ${count(keys)} cold keys`
  const coop = 'coop-cache cached()'
  const lru = 'lru-cache fetch(), one per thread'
  return {
    title: 'A cold-key stampede across threads: computations',
    subtitle: [`All callers released at once by a shared gate; each fn takes ${count(get(f, 'computeMs'))} ms.`],
    panels: [
      {
        heading: 'Computations, median over rounds (the goal: exactly K)',
        mark: { value: keys, label: `K = ${count(keys)}` },
        groups: [
          {
            label,
            note: `exactly K in every round: ${get(f, 'coopExact') === 1 ? 'met' : 'missed'}`,
            bars: [bar(coop, get(f, 'coopComputations'), count(get(f, 'coopComputations')), 'ours'), bar(lru, get(f, 'lruComputations'), count(get(f, 'lruComputations')), 'other')],
          },
        ],
      },
      {
        heading: 'Wall time of the stampede, median (lower is better)',
        groups: [{ label, bars: [bar(coop, get(f, 'coopWallMs'), ms(get(f, 'coopWallMs')), 'ours'), bar(lru, get(f, 'lruWallMs'), ms(get(f, 'lruWallMs')), 'other')] }],
      },
    ],
  }
}

/** The buses scenario 7 measured in this run, in its order. */
const busesOf = (f: Figures) => Object.keys(BUS_NAMES).filter((b) => Number.isFinite(get(f, `${b}HitP50`)) || Number.isFinite(get(f, `${b}StampedeMedian`)))

function clusterStampede(f: Figures): Drawn {
  const keys = get(f, 'keys')
  const buses = busesOf(f)
  const lock = 'Redis GET / SET NX lock per key'
  const rows = (what: 'StampedeMedian' | 'StampedeWallMs', show: (x: number) => string, lockKey: string) => [
    ...buses.map((b) => bar(`coop-cache over ${BUS_NAMES[b]}`, get(f, `${b}${what}`), show(get(f, `${b}${what}`)), 'ours')),
    bar(lock, get(f, lockKey), show(get(f, lockKey)), 'other'),
  ]
  const label = `3 processes × ${count(get(f, 'callers'))} callers, K = ${count(keys)} cold keys`
  const exact = buses.every((b) => get(f, `${b}StampedeExact`) === 1)
  return {
    title: 'A cold-key stampede across processes, per bus',
    subtitle: [`Each fn takes ${count(get(f, 'computeMs'))} ms; the lock's waiters poll GET until the value is there.`],
    panels: [
      {
        heading: 'Computations, median over rounds (the goal: exactly K)',
        mark: { value: keys, label: `K = ${count(keys)}` },
        groups: [{ label, note: `exactly K in every round, on every bus: ${exact ? 'met' : 'missed'}`, bars: rows('StampedeMedian', count, 'lockStampedeMedian') }],
      },
      {
        heading: 'Wall time, slowest process, median (lower is better)',
        groups: [{ label, note: Number.isFinite(get(f, 'lockCommands')) ? `the lock took ${count(get(f, 'lockCommands'))} Redis commands per stampede` : undefined, bars: rows('StampedeWallMs', ms, 'lockWallMs') }],
      },
    ],
  }
}

function clusterBuses(f: Figures): Drawn {
  const buses = busesOf(f).filter((b) => Number.isFinite(get(f, `${b}HitP50`)))
  return {
    title: 'Across processes: a remote hit and a reset, per bus',
    subtitle: ['Three processes, one owner thread each, nearLimit: 0; the bus round trip is a 16-byte ping.'],
    panels: [
      {
        heading: 'A remote hit (a key another process owns), p50 (lower is better)',
        groups: buses.map((b) => ({
          label: BUS_NAMES[b] ?? b,
          note: `${ratio(get(f, `${b}HitP50`) / get(f, `${b}FloorP50`))} the bus round trip`,
          bars: [bar('coop-cache remote hit', get(f, `${b}HitP50`), ns(get(f, `${b}HitP50`)), 'ours'), bar('the bus round trip, ping → pong', get(f, `${b}FloorP50`), ns(get(f, `${b}FloorP50`)), 'other')],
        })),
      },
      {
        heading: 'From reset() in one process to onReset in both others (lower is better)',
        groups: buses.map((b) => ({
          label: BUS_NAMES[b] ?? b,
          note: `resets not heard within 10 s: ${count(get(f, `${b}ResetMissed`))}`,
          bars: [bar('p50', get(f, `${b}ResetAllP50`), ms(get(f, `${b}ResetAllP50`)), 'ours'), bar('p99', get(f, `${b}ResetAllP99`), ms(get(f, `${b}ResetAllP99`)), 'alt')],
        })),
      },
    ],
  }
}

/** Which charts each scenario draws, by the name run.ts knows it by. */
const DRAWN: Record<string, readonly { readonly file: string; readonly draw: (f: Figures) => Drawn }[]> = {
  hit: [{ file: 'hit.svg', draw: hit }],
  'cross-thread': [{ file: 'cross-thread.svg', draw: crossThread }],
  stampede: [{ file: 'stampede.svg', draw: stampede }],
  cluster: [
    { file: 'cluster-stampede.svg', draw: clusterStampede },
    { file: 'cluster-buses.svg', draw: clusterBuses },
  ],
}

/** The charts of the scenarios in `figures` (by scenario name); a scenario without charts draws none. */
export function charts(figures: Record<string, Figures>, run: RunInfo): ChartFile[] {
  const load = run.load.map((x) => x.toFixed(2)).join(', ')
  const footer = `${run.command}, ${run.date.toISOString().slice(0, 10)}: ${run.machine}, ${run.cores} cores, Node ${run.node}, load average ${load} at the start; medians over ${run.rounds} rounds.`
  return Object.entries(figures).flatMap(([name, f]) => (DRAWN[name] ?? []).map(({ file, draw }) => ({ file, svg: barChart({ ...draw(f), footer }) })))
}
