// A wall clock that a test steps in a fault peer's process (fixtures/clock-step.cts, preloaded
// into each of its threads), as an NTP correction or an operator's `date -s` steps a machine's.
import type { ExecutionContext } from 'ava'
import { randomUUID } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'

export interface ClockStep {
  /** what the process is started with */
  readonly execArgv: readonly string[]
  readonly env: Readonly<Record<string, string>>
  /**
   * Steps the process's wall clock, and resolves once `offset` (how far the process says its
   * clock is off) shows it, and its other threads, which look on their own, have followed.
   */
  step(offset: () => Promise<number>): Promise<void>
}

const preload = fileURLToPath(new URL('../fixtures/clock-step.cjs', import.meta.url))

/** A wall clock that steps by `by` ms (back, if negative) when the test says. */
export function clockStep(t: ExecutionContext, by: number): ClockStep {
  const file = join(tmpdir(), `coop-cache-clock-${randomUUID()}`)
  t.teardown(() => rmSync(file, { force: true }))
  return {
    execArgv: ['-r', preload],
    env: { COOP_TEST_CLOCK_STEP_FILE: file, COOP_TEST_CLOCK_STEP_BY: String(by) },
    async step(offset) {
      writeFileSync(file, '')
      for (let i = 0; Math.abs((await offset()) - by) > 1000; i++) {
        if (i > 200) throw new Error('the clock did not step')
        await sleep(10)
      }
      await sleep(20)
    },
  }
}
