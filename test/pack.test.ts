// The package as a user gets it: packed the way it would be published (from a copy of the
// sources, as a clean clone is, so that `prepack` must build everything), then installed into a
// fresh ESM project and a fresh CommonJS project, whose code is type-checked with `tsc --strict`
// and run on this Node. One project has no optional peer installed, the other has the NATS and
// Redis clients and uses them against the real brokers.
import test, { type ExecutionContext } from 'ava'
import { execFile } from 'node:child_process'
import { cp, mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { brokerTest } from './helpers/brokers.js'

const run = promisify(execFile)
const root = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
// npm's own script, run by this very Node: `npm` on the PATH may belong to another line.
const npmCli = process.env.npm_execpath
const MINUTE = 60_000
// The CommonJS test needs both brokers: where one is missing, it is declared as that broker's
// tests are (ava wants every test declared before the file's first await ends).
const declared = await Promise.all([brokerTest('nats'), brokerTest('redis')])
const declare = declared.find((d) => d !== test) ?? test

async function npm(cwd: string, args: string[]): Promise<string> {
  const [command, argv] = npmCli !== undefined && npmCli.endsWith('.js') ? [process.execPath, [npmCli, ...args]] : ['npm', args]
  const { stdout } = await run(command, argv, { cwd, timeout: 3 * MINUTE, maxBuffer: 1 << 24, env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' } })
  return stdout
}

interface Packed {
  readonly tarball: string
  readonly files: readonly string[]
}

let packing: Promise<Packed> | undefined
let scratch: string | undefined

/** Packs once for the whole file, from a copy of what a clone holds (no dist/). */
function packed(): Promise<Packed> {
  packing ??= (async () => {
    scratch = await mkdtemp(join(tmpdir(), 'coop-cache-pack-'))
    const source = join(scratch, 'source')
    await mkdir(source)
    for (const entry of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'src']) {
      await cp(join(root, entry), join(source, entry), { recursive: true })
    }
    // prepack builds with the project's TypeScript; the copy borrows the installed tools.
    await symlink(join(root, 'node_modules'), join(source, 'node_modules'), 'dir')
    const out = await npm(source, ['pack', '--json', '--pack-destination', scratch])
    const [report] = JSON.parse(out.slice(out.indexOf('['))) as [{ filename: string; files: { path: string }[] }]
    return { tarball: join(scratch, report.filename), files: report.files.map((f) => f.path).sort() }
  })()
  return packing
}

test.after.always(async () => {
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true })
})

/** Every .ts file under src/, as the path of its built .js. */
async function sources(dir = join(root, 'src'), base = 'dist/src'): Promise<string[]> {
  const found: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) found.push(...(await sources(join(dir, entry.name), `${base}/${entry.name}`)))
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) found.push(`${base}/${entry.name.replace(/\.ts$/, '.js')}`)
  }
  return found
}

test('npm pack from a clean copy builds and ships the built modules with their types, README, LICENSE and package.json, and nothing else', async (t) => {
  t.timeout(4 * MINUTE)
  const { files } = await packed()
  const built = await sources()
  const expected = ['LICENSE', 'README.md', 'package.json', ...built, ...built.map((f) => f.replace(/\.js$/, '.d.ts'))]
  const shipped = new Set(files)
  t.deepEqual(expected.filter((f) => !shipped.has(f)), [], 'missing from the tarball')
  const wanted = new Set(expected)
  t.deepEqual(files.filter((f) => !wanted.has(f)), [], 'in the tarball but not built from src/ (stale, a source map, or not for users)')
})

/** A fresh project at `dir` with the tarball (and `extra` packages) installed from npm's cache where it has them. */
async function project(dir: string, type: 'module' | 'commonjs', extra: string[]): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: `fresh-${type}`, version: '1.0.0', private: true, type }))
  const { tarball } = await packed()
  await npm(dir, ['install', '--prefer-offline', '--no-package-lock', tarball, ...extra])
}

/** Type-checks `file` strictly, as a user's project would, and emits it next to itself. */
async function compile(dir: string, file: string): Promise<void> {
  await run(process.execPath, [tsc, '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', 'false', '--types', 'node', '--typeRoots', join(root, 'node_modules', '@types'), file], { cwd: dir, timeout: 2 * MINUTE })
}

async function node(dir: string, file: string): Promise<string> {
  const { stdout } = await run(process.execPath, [file], { cwd: dir, timeout: MINUTE })
  return stdout.trim()
}

const USE = `
  const cache = await createCache({ name: 'fresh', version: 1, threads: 1 })
  let runs = 0
  const values = await Promise.all([1, 2, 3].map(() => cached(cache, ['page', 1], async ({ version }) => \`page@\${String(version)}#\${++runs}\`)))
  await reset(cache, 2)
  const after: string = await cached(cache, ['page', 1], async ({ version }) => \`page@\${String(version)}#\${++runs}\`)
  await cache.close()
`

test('an ES module project imports the package, type-checked strictly; without the optional peers, natsBus, redisBus and instrument fail with a coded error; npx runs its command', async (t) => {
  t.timeout(4 * MINUTE)
  const dir = join((await packed(), scratch as string), 'esm')
  await project(dir, 'module', [])
  await writeFile(
    join(dir, 'main.mts'),
    `import { createCache, cached, reset } from 'coop-cache'
import { memoryBus } from 'coop-cache/memory'
import { ipcBus } from 'coop-cache/ipc'
${USE}
console.log(JSON.stringify({ values, after, buses: [typeof memoryBus, typeof ipcBus] }))
`,
  )
  // The NATS and Redis subpaths' types name their clients' options, so without the clients a
  // TypeScript project does not import them; plain JavaScript may, and learns what to install.
  await writeFile(
    join(dir, 'peers.mjs'),
    `import { createCache, CacheError } from 'coop-cache'
import { natsBus } from 'coop-cache/nats'
import { redisBus } from 'coop-cache/redis'
import { instrument } from 'coop-cache/otel'
const missing = []
for (const bus of [natsBus({ servers: 'nats://127.0.0.1:4222' }), redisBus({ url: 'redis://127.0.0.1:6379' })]) {
  try {
    await (await createCache({ name: 'peers', version: 1, bus })).close()
  } catch (error) {
    missing.push(error instanceof CacheError ? [error.code, error.message] : String(error))
  }
}
try {
  instrument()
} catch (error) {
  missing.push(error instanceof CacheError ? [error.code, error.message] : String(error))
}
// with a provider of its own, instrument needs nothing more, and names itself with the package's version
const meters = []
const instruments = { add() {}, record() {} }
const meter = { createCounter: () => instruments, createUpDownCounter: () => instruments, createHistogram: () => instruments }
instrument({ meterProvider: { getMeter: (...named) => (meters.push(named), meter) } })()
missing.push(meters)
console.log(JSON.stringify(missing))
`,
  )
  await compile(dir, 'main.mts')
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }
  t.deepEqual(JSON.parse(await node(dir, 'main.mjs')), { values: ['page@1#1', 'page@1#1', 'page@1#1'], after: 'page@2#2', buses: ['function', 'function'] })
  t.deepEqual(JSON.parse(await node(dir, 'peers.mjs')), [
    ['ERR_COOP_CACHE_BUS_CLIENT_MISSING', 'natsBus needs the NATS client: npm install @nats-io/transport-node'],
    ['ERR_COOP_CACHE_BUS_CLIENT_MISSING', 'redisBus needs the Redis client: npm install ioredis'],
    ['ERR_COOP_CACHE_OTEL_API_MISSING', 'instrument() needs the OpenTelemetry API: npm install @opentelemetry/api (or pass options.meter or options.meterProvider)'],
    [['coop-cache', version]],
  ])
  // the package's command, as npm links it in the install (what npx runs): npm's own `exec`
  // flags differ between the npm versions of the Node lines, so the link is run as it is
  t.regex((await run(join(dir, 'node_modules', '.bin', 'coop-cache'), ['top', '--help'], { cwd: dir })).stdout, /^Usage: coop-cache top /)
})

async function commonJs(t: ExecutionContext): Promise<void> {
  t.timeout(4 * MINUTE)
  const dir = join((await packed(), scratch as string), 'cjs')
  // The clients at the versions this project's lockfile installed (npm ci has them in its cache):
  // the latest of a range may bring typings of its own that do not pass --skipLibCheck false
  // (ioredis 6.1.0's import an untyped 'redis-errors'), which is not what this test is about.
  const installed = async (name: string) => (JSON.parse(await readFile(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
  await project(dir, 'commonjs', await Promise.all(['@nats-io/transport-node', 'ioredis'].map(async (name) => `${name}@${await installed(name)}`)))
  await writeFile(
    join(dir, 'main.cts'),
    `import { createCache, cached, reset } from 'coop-cache'
import { natsBus } from 'coop-cache/nats'
import { redisBus } from 'coop-cache/redis'
async function main(): Promise<void> {
  ${USE}
  const served: string[] = []
  for (const [word, bus] of [['nats', natsBus({ servers: ${JSON.stringify(process.env.COOP_CACHE_NATS_URL || 'nats://127.0.0.1:4222')} })], ['redis', redisBus({ url: ${JSON.stringify(process.env.COOP_CACHE_REDIS_URL || 'redis://127.0.0.1:6379')} })]] as const) {
    const c = await createCache({ name: 'fresh-cjs-' + word + '-' + process.pid, version: 1, threads: 1, bus, secret: 'a secret of the fresh project' })
    served.push(await cached(c, 'k', () => word))
    await c.close()
  }
  console.log(JSON.stringify({ values, after, served, loader: typeof require }))
}
main().catch((error) => { console.error(error); process.exitCode = 1 })
`,
  )
  await compile(dir, 'main.cts')
  t.deepEqual(JSON.parse(await node(dir, 'main.cjs')), {
    values: ['page@1#1', 'page@1#1', 'page@1#1'],
    after: 'page@2#2',
    served: ['nats', 'redis'],
    loader: 'function',
  })
}

declare('a CommonJS project requires the package and its subpaths, type-checked strictly, and runs a cache on NATS and on Redis with the optional peers installed', commonJs)
