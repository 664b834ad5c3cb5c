// Runs every scenario, each in a node process of its own (so one scenario's heap and threads
// do not weigh on the next, and a hang is caught by a deadline instead of stalling the run),
// then writes bench/RESULTS.md: the machine, each scenario's section, and what the figures
// say about the aims.
//
//   npm run bench                           every scenario, writes bench/RESULTS.md and bench/charts/
//   node dist/bench/run.js hit stampede     only these, printed (RESULTS.md untouched)
//   node dist/bench/run.js --record cluster only these, and their sections replaced in RESULTS.md
//                                           (npm run bench:cluster); the rest of it is kept, and
//                                           only their charts are drawn again
//   BENCH_QUICK=1 npm run bench             smaller sizes, a trial (printed, not written)

import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, availableParallelism, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { optionsFromEnv, type Section } from './lib/scenario.js'
import { whatStandsBetween } from './lib/aims.js'
import { charts } from './lib/charts.js'

interface Entry {
  readonly name: string
  readonly file: string
  /** the most seconds it may take before it counts as hung */
  readonly deadline: number
  readonly title: string
}

const scenarios: readonly Entry[] = [
  { name: 'hit', file: 'hit.js', deadline: 90, title: '1–2. Hit on a hot key (near copies on)' },
  { name: 'cross-thread', file: 'cross-thread.js', deadline: 150, title: '3. Hit that must cross threads (nearLimit: 0)' },
  { name: 'stampede', file: 'stampede.js', deadline: 90, title: '4. Cold-key stampede' },
  { name: 'scale', file: 'scale.js', deadline: 300, title: '5. Hit latency against the number of entries' },
  { name: 'memory', file: 'memory.js', deadline: 480, title: '6. Stored bytes and RSS against memoryLimit' },
  { name: 'cluster', file: 'cluster.js', deadline: 300, title: '7. Across processes: ipc, NATS, Redis' },
  { name: 'peers', file: 'peers.js', deadline: 420, title: '8. Beside the peers: lru-cache, bentocache, async-cache-dedupe' },
]

interface Outcome {
  readonly entry: Entry
  readonly section?: Section
  readonly failure?: string
  readonly seconds: number
}

function runScenario(entry: Entry, dir: string): Promise<Outcome> {
  const out = join(dir, `${entry.name}.json`)
  const progress = join(dir, `${entry.name}.trace`)
  const script = fileURLToPath(new URL(entry.file, import.meta.url))
  const started = process.hrtime.bigint()
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', script], {
      env: { ...process.env, BENCH_JSON: out, BENCH_TRACE: progress },
      stdio: ['ignore', 'inherit', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      process.stderr.write(chunk)
    })
    let hung = false
    const timer = setTimeout(() => {
      hung = true
      child.kill('SIGKILL')
    }, entry.deadline * 1000)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      const seconds = elapsed()
      if (hung) {
        let last = ''
        try {
          last = readFileSync(progress, 'utf8').trim().split('\n').slice(-3).join(' / ')
        } catch {
          last = '(no progress noted)'
        }
        return resolve({ entry, seconds, failure: `did not finish within ${entry.deadline} s and was stopped (a hang, or a machine far slower than expected); its last progress notes: ${last}` })
      }
      if (code !== 0) {
        return resolve({ entry, seconds, failure: `exited with ${code ?? signal}: ${stderr.trim().split('\n').slice(-8).join(' / ')}` })
      }
      try {
        resolve({ entry, seconds, section: JSON.parse(readFileSync(out, 'utf8')) as Section })
      } catch (error) {
        resolve({ entry, seconds, failure: `finished without its results (exit 0, process did not write them): ${String(error)}` })
      }
    })
  })
}

/**
 * RESULTS.md with the sections of `outcomes` put in place of the ones of the same title (or
 * before the closing section, for a scenario it did not have yet); the rest as it was.
 */
function replaceSections(text: string, outcomes: readonly Outcome[], when: Date): string {
  let out = text
  for (const o of outcomes) {
    const title = o.section?.title ?? o.entry.title
    const note = `*Recorded alone (\`node dist/bench/run.js --record ${o.entry.name}\`) at ${when.toISOString()}; the header of this file is from its last full run.*`
    const body = o.section !== undefined ? `## ${title}\n\n${note}\n\n${o.section.markdown}` : `## ${title}\n\n${note}\n\n**This scenario failed:** ${o.failure}`
    const lines = out.split('\n')
    const at = lines.findIndex((line) => line === `## ${title}`)
    if (at >= 0) {
      const next = lines.findIndex((line, i) => i > at && line.startsWith('## '))
      const end = next < 0 ? lines.length : next
      out = [...lines.slice(0, at), ...body.split('\n'), '', ...lines.slice(end)].join('\n')
    } else {
      const closing = lines.findIndex((line) => line.startsWith('## What stands between'))
      const end = closing < 0 ? lines.length : closing
      out = [...lines.slice(0, end), ...body.split('\n'), '', ...lines.slice(end)].join('\n')
    }
  }
  return out.replace(/\n{3,}/g, '\n\n').replace(/\n*$/, '\n')
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const recordSome = args.includes('--record')
  const wanted = args.filter((arg) => arg !== '--record')
  const unknown = wanted.filter((name) => !scenarios.some((entry) => entry.name === name))
  if (unknown.length > 0) {
    console.error(`unknown scenario(s): ${unknown.join(', ')}; the scenarios are ${scenarios.map((entry) => entry.name).join(', ')}`)
    process.exit(2)
  }
  const options = optionsFromEnv()
  const chosen = wanted.length === 0 ? scenarios : scenarios.filter((entry) => wanted.includes(entry.name))
  const record = wanted.length === 0 && !options.quick
  if (recordSome && (wanted.length === 0 || options.quick)) {
    console.error('--record is for some scenarios of a full-size run: name them, without BENCH_QUICK (a run of every scenario records anyway)')
    process.exit(2)
  }
  const startedAt = new Date()
  const load = loadavg()
  const started = process.hrtime.bigint()
  const dir = mkdtempSync(join(tmpdir(), 'coop-cache-bench-'))
  const outcomes: Outcome[] = []
  try {
    for (const entry of chosen) {
      process.stdout.write(`${entry.name} ... `)
      const outcome = await runScenario(entry, dir)
      console.log(outcome.failure === undefined ? `${outcome.seconds.toFixed(1)} s` : `FAILED: ${outcome.failure}`)
      outcomes.push(outcome)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const total = Number(process.hrtime.bigint() - started) / 1e9

  const cpu = cpus()
  const header = [
    '# coop-cache benchmark results',
    '',
    `Written by \`npm run bench\` (bench/run.ts); what each scenario measures, and how to run one alone: bench/README.md.`,
    '',
    '| | |',
    '| --- | --- |',
    `| machine | ${cpu[0]?.model.trim() ?? 'unknown'} |`,
    `| cores | ${cpu.length} (available parallelism ${availableParallelism()}) |`,
    `| memory | ${(totalmem() / 1024 ** 3).toFixed(1)} GiB |`,
    `| Node | ${process.version} (${process.platform} ${process.arch}) |`,
    `| date | ${startedAt.toISOString()} |`,
    `| load average at start (1, 5, 15 min) | ${load.map((x) => x.toFixed(2)).join(', ')} |`,
    `| whole run | ${total.toFixed(0)} s (${outcomes.map((o) => `${o.entry.name} ${o.seconds.toFixed(0)} s`).join(', ')}) |`,
    `| rounds | ${options.rounds} per measurement; every figure is the median over them, ratios are taken within this run |`,
    '',
    'Each scenario ran in a node process of its own, one after the other. The machine may be shared: the spread of rounds, where given, says how steady it was.',
  ].join('\n')
  const sections = outcomes.map((o) =>
    o.section !== undefined ? `## ${o.section.title}\n\n${o.section.markdown}` : `## ${o.entry.title}\n\n**This scenario failed:** ${o.failure}`,
  )
  const figures = Object.fromEntries(outcomes.flatMap((o) => (o.section !== undefined ? [[o.entry.name, o.section.figures]] : [])))
  const closing = `## What stands between us and the aims\n\n${whatStandsBetween(figures, chosen.map((entry) => entry.name))}`
  const text = [header, ...sections, closing].join('\n\n') + '\n'
  const path = fileURLToPath(new URL('../../bench/RESULTS.md', import.meta.url))
  if (record) {
    writeFileSync(path, text)
    console.log(`wrote ${path} in ${total.toFixed(0)} s`)
  } else if (recordSome) {
    writeFileSync(path, replaceSections(readFileSync(path, 'utf8'), outcomes, startedAt))
    console.log(`\n${sections.join('\n\n')}\n`)
    console.log(`replaced the section(s) of ${chosen.map((entry) => entry.name).join(', ')} in ${path} (the rest of it is from its last full run); ${total.toFixed(0)} s`)
  } else {
    console.log(`\n${text}`)
    console.log(`(not written to RESULTS.md: ${options.quick ? 'a quick run' : 'only some scenarios'}; ${total.toFixed(0)} s)`)
  }
  if (record || recordSome) {
    // Drawn whenever RESULTS.md is written, from the same figures; a scenario that failed
    // leaves its charts as the last run drew them.
    const where = fileURLToPath(new URL('../../bench/charts/', import.meta.url))
    mkdirSync(where, { recursive: true })
    const drawn = charts(figures, {
      command: record ? 'npm run bench' : `node dist/bench/run.js --record ${wanted.join(' ')}`,
      date: startedAt,
      machine: cpu[0]?.model.trim() ?? 'unknown',
      cores: cpu.length,
      node: process.version,
      load,
      rounds: options.rounds,
    })
    for (const chart of drawn) writeFileSync(join(where, chart.file), chart.svg)
    console.log(`drew ${drawn.map((chart) => chart.file).join(', ') || 'no chart'} in ${where}`)
  }
  if (outcomes.some((o) => o.failure !== undefined)) process.exitCode = 1
}

await main()
