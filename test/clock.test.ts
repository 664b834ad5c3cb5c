// The clock every thread of a process reasons about time with (shared/clock.ts): the machine's
// monotonic clock, read through performance.now() against an offset each thread takes once. A
// thread held up while it takes it must not end up with a clock that lags the others': it would
// serve stored values, or values past their time to live, for as long as it lags.
import test from 'ava'
import { Worker } from 'node:worker_threads'
import { calibrate, monotonic } from '../src/shared/clock.js'

const machine = () => Number(process.hrtime.bigint()) / 1e6

test('a thread held up between the reads that set its clock still reads the machine\'s monotonic clock to within 0.1 ms', (t) => {
  let reads = 0
  // Each of the first reads is followed by 30 ms in which the thread does not run on.
  const read = () => {
    const at = performance.now()
    if (++reads <= 10) for (const end = machine() + 30; machine() < end;);
    return at
  }
  const origin = calibrate(read)
  const off = performance.now() + origin - machine()
  t.true(Math.abs(off) < 0.1, `off by ${off.toFixed(3)} ms`)
  t.true(reads > 10, 'the clean reads after the held-up ones were used')
})

test('every thread of a process reads one clock: threads started while the process is busy agree with the main thread to within a millisecond', async (t) => {
  const code = `
    const { parentPort } = require('node:worker_threads')
    import(${JSON.stringify(new URL('../src/shared/clock.js', import.meta.url).href)}).then(({ monotonic }) => {
      // the least of a few readings: one may be held up between its two reads
      const off = () => Math.min(...[1, 2, 3, 4, 5].map(() => Math.abs(monotonic() - Number(process.hrtime.bigint()) / 1e6)))
      parentPort.on('message', () => parentPort.postMessage(off()))
      parentPort.postMessage('ready')
    })`
  const workers = Array.from({ length: 4 }, () => new Worker(code, { eval: true }))
  t.teardown(() => Promise.all(workers.map((w) => w.terminate())))
  // Busy while they start, so that they contend for the cores as they take their offsets.
  const ready = Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))))
  for (const end = machine() + 200; machine() < end;);
  await ready
  const offs = await Promise.all(workers.map((w) => new Promise<number>((resolve) => {
    w.once('message', resolve)
    w.postMessage('now')
  })))
  const main = Math.min(...[1, 2, 3, 4, 5].map(() => Math.abs(monotonic() - machine())))
  for (const off of [main, ...offs]) t.true(off < 1, `a thread's clock is off the machine's by ${off.toFixed(3)} ms`)
})
