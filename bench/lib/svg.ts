// A horizontal bar chart as one self-contained SVG string: no dependency, no script, no external
// font or style, so GitHub shows it as an image. It draws on an explicit white background with
// dark text, so it reads the same on GitHub's light and dark themes.
//
// A chart is panels (each with its own unit and scale), a panel is groups of labelled bars, and
// each group may carry a note (the ratio its aim is about). What the bars mean is decided by the
// caller (charts.ts); this file only lays them out.

/** `ours` is coop-cache (blue), `alt` another coop-cache setup (light blue), `other` a baseline (grey). */
export type BarKind = 'ours' | 'alt' | 'other'

export interface Bar {
  readonly label: string
  readonly value: number
  /** the value as printed beside the bar, with its unit */
  readonly text: string
  readonly kind: BarKind
}

export interface Group {
  readonly label: string
  /** printed after the label, in grey: the ratio and whether the aim was met */
  readonly note?: string
  readonly bars: readonly Bar[]
}

export interface Panel {
  /** what is measured, its unit, and which way is better */
  readonly heading: string
  readonly groups: readonly Group[]
  /** a dashed line across the panel at a value, as a goal (exactly K computations, say) */
  readonly mark?: { readonly value: number; readonly label: string }
}

export interface Chart {
  readonly title: string
  /** lines under the title: the setup in a few words */
  readonly subtitle: readonly string[]
  readonly panels: readonly Panel[]
  /** the last line: which run, which machine */
  readonly footer: string
}

const WIDTH = 760
const PAD = 20
const BAR = 16
const ROW = 22
const FONT = `font-family="-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif"`
const INK = '#1f2328'
const MUTED = '#59636e'
const FILL: Record<BarKind, string> = { ours: '#0969da', alt: '#54aeff', other: '#8c959f' }
/** room kept right of the longest bar for its value */
const VALUE_ROOM = 96
/** an estimate of the width of one character at 12 px, to size the label column */
const CHAR = 6.4

/** Text made safe for an SVG text node or attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`)
}

const text = (x: number, y: number, size: number, content: string, extra = '', color = INK) =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${size}" fill="${color}" ${extra}>${escapeXml(content)}</text>`

/** The chart as an SVG document. Bars whose value is not finite are left out. */
export function barChart(chart: Chart): string {
  const panels = chart.panels
    .map((p) => ({ ...p, groups: p.groups.map((g) => ({ ...g, bars: g.bars.filter((b) => Number.isFinite(b.value)) })).filter((g) => g.bars.length > 0) }))
    .filter((p) => p.groups.length > 0)
  const labels = panels.flatMap((p) => p.groups.flatMap((g) => g.bars.map((b) => b.label.length)))
  const barX = PAD + Math.min(300, Math.max(120, Math.max(0, ...labels) * CHAR + 16))
  const barMax = WIDTH - PAD - VALUE_ROOM - barX
  const out: string[] = []
  let y = PAD + 16
  out.push(text(PAD, y, 18, chart.title, 'font-weight="600"'))
  for (const line of chart.subtitle) {
    y += 20
    out.push(text(PAD, y, 13, line, '', MUTED))
  }
  for (const panel of panels) {
    y += 34
    out.push(text(PAD, y, 14, panel.heading, 'font-weight="600"'))
    const max = Math.max(panel.mark?.value ?? 0, ...panel.groups.flatMap((g) => g.bars.map((b) => b.value)))
    const scale = (v: number) => (max > 0 ? (Math.max(0, v) / max) * barMax : 0)
    let top = Number.NaN
    for (const group of panel.groups) {
      y += 26
      out.push(
        `<text x="${PAD}" y="${y.toFixed(1)}" font-size="13" fill="${INK}"><tspan font-weight="600">${escapeXml(group.label)}</tspan>` +
          (group.note === undefined ? '' : `<tspan dx="10" fill="${MUTED}">${escapeXml(group.note)}</tspan>`) +
          '</text>',
      )
      for (const bar of group.bars) {
        y += ROW
        const w = scale(bar.value)
        if (Number.isNaN(top)) top = y - BAR
        out.push(text(barX - 8, y, 12, bar.label, 'text-anchor="end"'))
        out.push(`<rect x="${barX}" y="${(y - BAR + 4).toFixed(1)}" width="${Math.max(1, w).toFixed(1)}" height="${BAR}" rx="2" fill="${FILL[bar.kind]}"/>`)
        out.push(text(barX + w + 6, y, 12, bar.text, 'font-weight="600"'))
      }
    }
    if (panel.mark !== undefined) {
      const x = barX + scale(panel.mark.value)
      out.push(`<line x1="${x.toFixed(1)}" y1="${top.toFixed(1)}" x2="${x.toFixed(1)}" y2="${(y + 8).toFixed(1)}" stroke="${INK}" stroke-width="1" stroke-dasharray="4 3"/>`)
      y += 22
      out.push(text(x, y, 11, panel.mark.label, 'text-anchor="middle"', MUTED))
    }
  }
  y += 30
  out.push(text(PAD, y, 11, chart.footer, '', MUTED))
  const height = Math.ceil(y + PAD)
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${escapeXml(chart.title)}" ${FONT}>`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff" rx="6"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n')
}
