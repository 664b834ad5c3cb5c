#!/usr/bin/env node
// The package's command: `npx coop-cache <command>`. Each command is a module of its own that
// says its exit code, loaded only when named; this file only picks it.
const commands: Record<string, () => Promise<{ main(argv: readonly string[]): Promise<number> }>> = {
  top: () => import('./top.js'),
}
const usage = `Usage: coop-cache <command> [options]

Commands:
  top    a live view of a cache's processes on a bus (see: coop-cache top --help)`

const [command, ...rest] = process.argv.slice(2)
const load = command === undefined ? undefined : Object.hasOwn(commands, command) ? commands[command] : undefined
if (command === '--help' || command === '-h') {
  console.log(usage)
} else if (load === undefined) {
  console.error(`coop-cache: ${command === undefined ? 'no command given' : `unknown command ${JSON.stringify(command)}`}\n\n${usage}`)
  process.exitCode = 2
} else {
  process.exitCode = await (await load()).main(rest)
}
