// A thread takes up what its ports bring a share at a time (shared/outbox.ts `each`). A port
// hands a thread everything queued on it in one go: under a stampede of thousands of keys the
// creating thread spent up to 1.7 s of one turn of its event loop on its owners' answers, while
// its heartbeat (a timer) and the bus (a socket) waited, and it took itself for cut off from a
// bus it had only not read yet. Here a worker queues 1,000 messages on a port before the thread
// reads any, each taking a millisecond to handle: the thread's timer must run between them, and
// the messages must still be handled in the order they were sent, none twice, none lost.
import test from 'ava'
import { MessageChannel, Worker } from 'node:worker_threads'
import { each } from '../src/shared/outbox.js'

const MESSAGES = 1000
/** ms each message takes to handle */
const WORK = 1

const busy = (ms: number) => {
  const end = performance.now() + ms
  while (performance.now() < end);
}

test('a thread whose port brings a second of work at once still runs its timers between shares of it, and handles every message in order', async (t) => {
  const { port1, port2 } = new MessageChannel()
  const posted = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(
    `const { workerData: { port, posted, n } } = require('node:worker_threads')
     for (let i = 0; i < n; i++) port.postMessage(i % 10 === 0 ? [i] : i)
     Atomics.store(posted, 0, 1)
     Atomics.notify(posted, 0)`,
    { eval: true, workerData: { port: port2, posted, n: MESSAGES }, transferList: [port2] },
  )
  t.teardown(() => worker.terminate())
  // Every message is on the port before this thread reads one.
  Atomics.wait(posted, 0, 0, 10_000)
  t.is(Atomics.load(posted, 0), 1, 'the worker posted every message')
  const handled: number[] = []
  let ticks = 0
  let ticksWhileHandling = 0
  const timer = setInterval(() => {
    ticks++
    if (handled.length > 0 && handled.length < MESSAGES) ticksWhileHandling++
  }, 5)
  t.teardown(() => clearInterval(timer))
  const done = new Promise<void>((resolve) => {
    port1.on('message', (received: number | number[]) =>
      each(received, (i) => {
        busy(WORK)
        handled.push(i)
        if (handled.length === MESSAGES) resolve()
      }),
    )
  })
  await done
  port1.close()
  t.deepEqual(
    handled,
    Array.from({ length: MESSAGES }, (_, i) => i),
  )
  t.log(`${ticks} ticks of a 5 ms timer, ${ticksWhileHandling} of them while the messages were being handled`)
  // A second of work in shares of 20 ms: the timer runs between most of them.
  t.true(ticksWhileHandling >= 10, `the timer ran ${ticksWhileHandling} times while ${MESSAGES} ms of messages were handled`)
})
