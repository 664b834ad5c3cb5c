// What `coop-cache top` shows: a snapshot as lines of aligned columns, or as JSON.
import { inspect, isDeepStrictEqual } from 'node:util'
import pc from 'picocolors'
import type { ObservedPeer, Snapshot } from '../observe/observer.js'

/** A last heartbeat older than this is shown as late, in ms. */
const LATE = 1000

interface Column {
  readonly title: string
  readonly right?: boolean
  readonly cell: (peer: ObservedPeer) => string
}

const columns: readonly Column[] = [
  { title: 'PEER', cell: (p) => p.id.slice(0, 8) },
  { title: 'HOST', cell: (p) => p.host },
  { title: 'PID', right: true, cell: (p) => String(p.pid) },
  { title: 'VERSION', cell: (p) => versionText(p.version) },
  { title: 'EPOCH', right: true, cell: (p) => String(p.epoch) },
  { title: 'ENTRIES', right: true, cell: (p) => String(p.counters.entries) },
  { title: 'MEMORY', right: true, cell: (p) => `${size(p.counters.bytes)} / ${size(p.counters.memoryLimit)} ${percent(p.counters.bytes / p.counters.memoryLimit)}` },
  { title: 'HITS', right: true, cell: (p) => (p.hitRatio === null ? '-' : percent(p.hitRatio)) },
  { title: 'COMPUTES/S', right: true, cell: (p) => (p.computesPerSecond === null ? '-' : p.computesPerSecond.toFixed(1)) },
  { title: 'LAST BEAT', right: true, cell: (p) => age(p.age) },
]

/** The live view of `snapshot`: a header, then a row per peer. */
export function render(snapshot: Snapshot, where: string): string {
  const { peers, refused, refusal } = snapshot
  const head = `cache ${JSON.stringify(snapshot.name)} · ${where} · ${peers.length} ${peers.length === 1 ? 'peer' : 'peers'} · ${new Date(snapshot.at).toTimeString().slice(0, 8)}`
  const lines = [pc.bold(head)]
  if (refused > 0) lines.push(pc.yellow(`${refused} messages refused; the latest because ${refusal}`))
  lines.push('')
  const cells = peers.map((peer) => columns.map((c) => c.cell(peer)))
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((row) => (row[i] as string).length)))
  const line = (row: readonly string[]) => row.map((text, i) => (columns[i]?.right === true ? text.padStart(widths[i] as number) : text.padEnd(widths[i] as number))).join('  ')
  lines.push(pc.bold(line(columns.map((c) => c.title))))
  for (const [i, row] of cells.entries()) {
    const text = line(row)
    lines.push((peers[i] as ObservedPeer).age > LATE ? pc.yellow(text) : text)
  }
  if (peers.length === 0) lines.push(pc.dim('no peer heard yet: each beats once a heartbeat'))
  return lines.join('\n')
}

/** `snapshot` as plain JSON data: a version JSON cannot hold as it is (a bigint, a Map, a Date) is shown as text. */
export function jsonOf(snapshot: Snapshot): unknown {
  return { ...snapshot, peers: snapshot.peers.map((p) => ({ ...p, version: jsonable(p.version) ? p.version : inspect(p.version) })) }
}

/** `url` without its password, to be shown. */
export function shownUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return url
  }
}

function jsonable(value: unknown): boolean {
  try {
    return isDeepStrictEqual(JSON.parse(JSON.stringify(value) ?? 'null'), value)
  } catch {
    return false
  }
}

function versionText(version: unknown): string {
  const text = typeof version === 'string' ? version : inspect(version, { breakLength: Infinity, depth: 2 })
  return text.length > 24 ? `${text.slice(0, 23)}…` : text
}

function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let n = bytes
  let unit = 0
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024
    unit++
  }
  return `${unit === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[unit]}`
}

const percent = (ratio: number) => `${(100 * ratio).toFixed(ratio < 0.1 ? 1 : 0)}%`

const age = (ms: number) => (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`)
