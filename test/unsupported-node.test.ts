// Attaching threads hands ports over a BroadcastChannel's internal handle (shared/handoff.ts).
// On a Node that hides it, createCache must fail at once, with a code and a reason, instead of
// leaving every call waiting for a link that cannot be made. A child process plays that Node by
// hiding the handle's symbol before the library loads.
import test from 'ava'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const library = fileURLToPath(new URL('../src/index.js', import.meta.url))

test('on a Node whose BroadcastChannel hides its port handle, createCache fails at once with ERR_COOP_CACHE_UNSUPPORTED_NODE', async (t) => {
  const script = `
    const symbols = Object.getOwnPropertySymbols
    Object.getOwnPropertySymbols = (o) => symbols(o).filter((s) => s.description !== 'kHandle')
    const { createCache, CacheError } = await import(${JSON.stringify(library)})
    const started = Date.now()
    try {
      await createCache({ name: 'hidden-handle' })
      console.log(JSON.stringify({ created: true }))
    } catch (error) {
      console.log(JSON.stringify({ cacheError: error instanceof CacheError, code: error.code, message: error.message, ms: Date.now() - started }))
    }
  `
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 })
  const result = JSON.parse(stdout) as { cacheError: boolean; code: string; message: string; ms: number }
  t.like(result, { cacheError: true, code: 'ERR_COOP_CACHE_UNSUPPORTED_NODE' })
  t.regex(result.message, new RegExp(`cannot hand a port to this thread on Node ${process.version.replace(/\./g, '\\.')}.*supports Node 20, 22 and 24`))
})
