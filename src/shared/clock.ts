// The clock this process reasons about time with, in every thread: until when it may serve,
// when it last heard a peer, how long a reset waits. It is monotonic, so a step of the wall
// clock (an NTP correction, an operator's `date -s`) neither stretches how long a process that
// lost the cluster goes on serving, nor counts a live peer out early. The wall clock is for what
// crosses processes: a message's send time, which only another machine's wall clock can be set
// beside (replay.ts, the age of a copy).
//
// process.hrtime() counts from an origin the whole machine shares; performance.now() from one of
// each thread's own, and costs less to read. So each thread reads performance.now() against the
// offset between the two, taken once. Taken from one pair of reads, the offset would be off by
// however long the thread was held up between them, and a thread that starts under load can be
// held up for a hundred milliseconds: its clock would lag the others' by as much, and it would
// serve that much past its due. So it is taken from the pair read in the shortest time of many.

// Imported: the global `performance` is a getter, a few ns more on every read.
import { performance } from 'node:perf_hooks'

/** The longest a timer waits, ms (setTimeout fires at once past it): the most a heartbeat or peer timeout may be. */
export const TIMER_MAX = 2 ** 31 - 1

const hr = () => Number(process.hrtime.bigint()) / 1e6

/** The offset of `read` (performance.now(), but for a test) from the machine's monotonic clock. */
export function calibrate(read: () => number = () => performance.now()): number {
  read() // the first read sets performance up, and is slow
  let best = Infinity
  let origin = 0
  for (let i = 0; i < 16 || (best > 0.05 && i < 10_000); i++) {
    const before = hr()
    const at = read()
    const after = hr()
    if (after - before >= best) continue
    best = after - before
    origin = (before + after) / 2 - at
  }
  return origin
}

const origin = calibrate()

/** Milliseconds on the machine's monotonic clock; comparable between the threads of a process. */
export function monotonic(): number {
  return performance.now() + origin
}
