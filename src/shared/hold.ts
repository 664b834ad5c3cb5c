/**
 * Awaits `work` while holding the thread's event loop open. Atomics.waitAsync does not hold it,
 * and owners' threads are unref'd, so without this a process whose only pending work is a wait
 * on shared memory (createCache, reset) would exit in the middle of it.
 */
export async function holdingOpen<T>(work: Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 1 << 30)
  try {
    return await work
  } finally {
    clearInterval(hold)
  }
}
