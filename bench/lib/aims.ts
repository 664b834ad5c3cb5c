// The closing section of RESULTS.md, "What stands between us and the aims", written from the
// figures of the same run: each aim, whether this run met it, and what the measurements beside
// it suggest costs the time. Nothing here is a figure of its own; every number comes from
// `figures`, and a scenario that did not run is said to be missing.

import type { Shape } from './fill.js'
import { bytes, ns, rate, ratio } from './measure.js'
import { peers } from './aims-peers.js'

type Figures = Record<string, Record<string, number> | undefined>

const fixed = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a')

/** The aim for a near hit with a `ttl` (issue 8): at least this share of lru-cache `await fetch()` with its own `ttl`. */
export const TTL_AIM = 0.9

/**
 * The aim for memory (issue 10): filling a cache to its memoryLimit grows RSS by at most RSS_AIM
 * times the limit, beyond a fixed cost, at every value size from 16 B to 1 MiB; judged at these
 * sizes, each of a typical shape (scenario 6 measures the slope of RSS against memoryLimit).
 */
export const RSS_AIM = 1.25
/**
 * Cross-thread hits with 1,000 in flight, against a bare round trip that sends one message per
 * call: issue 10 raised it from half to the whole, since callers and owners now send what one
 * event gives them as one message.
 */
export const PIPE_AIM = 1.0
export const RSS_CELLS: readonly { readonly shape: Shape; readonly size: number; readonly label: string }[] = [
  { shape: 'id', size: 16, label: '`{ id }`, 16 B' },
  { shape: 'string', size: 100, label: 'string, 100 B' },
  { shape: 'fields', size: 1024, label: 'record, 1 KiB' },
  { shape: 'buffer', size: 1024, label: 'Buffer, 1 KiB' },
  { shape: 'fields', size: 16 * 1024, label: 'record, 16 KiB' },
  { shape: 'string', size: 64 * 1024, label: 'string, 64 KiB' },
  { shape: 'buffer', size: 1024 * 1024, label: 'Buffer, 1 MiB' },
]

function hit(f: Record<string, number>): string[] {
  const out: string[] = []
  const mainRatio = f.mainRatioVsFetch as number
  const workerRatio = f.workerRatioVsFetch as number
  const together = f.togetherRatio as number
  const met = (x: number) => x >= 1
  const coopNs = 1e9 / (f.mainCoopRate as number)
  const fetchNs = 1e9 / (f.mainFetchRate as number)
  const getNs = 1e9 / (f.mainGetRate as number)
  const awaitNs = 1e9 / (f.mainAwaitRate as number)
  const gap = coopNs - fetchNs
  const verdict = [
    `main thread ${ratio(mainRatio)} (${met(mainRatio) ? 'met' : 'missed'})`,
    `worker thread ${ratio(workerRatio)} (${met(workerRatio) ? 'met' : 'missed'})`,
    `and, measured beside the aim, both threads hitting at once ${ratio(together)} (${met(together) ? 'as fast or faster' : 'slower'})`,
  ].join(', ')
  out.push(`**Hit at least as fast as lru-cache \`await fetch()\`** (throughput ratio, aim ≥ 1.00x; a cache without a bus, the default): ${verdict}.`)
  out.push(
    `From the main thread a near hit cost ${fixed(coopNs)} ns per call (1 / throughput) against ${fixed(fetchNs)} ns for \`await fetch()\`${gap > 0 ? `: ${fixed(gap)} ns more` : `: ${fixed(-gap)} ns less`}. Both pay an \`await\` (${fixed(awaitNs)} ns for \`await Promise.resolve(v)\` alone) and an LRU look-up (${fixed(getNs)} ns for a bare \`get\`). What a near hit does beyond those (src/caller/client.ts \`Client.get\`, src/caller/near.ts \`Near.get\`): the checks of \`cache\`, \`fn\` and the key (\`encodeKey\`), one \`Atomics.load\` of the count of changes (src/shared/memory/changes.ts: while it has not moved since the copy was last checked, the epoch, the closed flag and the key's fences have not), and a hit counted in a plain number of the thread's (added to the shared counter once per turn of the event loop); it returns the copy's already-resolved promise, where \`fetch()\` makes a new one.`,
  )
  const busMain = f.mainBusRatioVsFetch as number
  const busWorker = f.workerBusRatioVsFetch as number
  if (Number.isFinite(busMain)) {
    const busNs = 1e9 / (f.mainBusRate as number)
    const extra = busNs - coopNs
    const busGap = busNs - fetchNs
    const clockNs = 1e9 / (f.mainClockRate as number)
    const replicaNs = 1e9 / (f.mainReplicaRate as number)
    const liveNs = 1e9 / (f.mainReplicaLiveRate as number)
    const checkNs = liveNs - replicaNs
    const metBoth = met(busMain) && met(busWorker)
    out.push(
      `**With a bus**, where every near hit also checks until when this process may serve (the same aim, reported beside it): main thread ${ratio(busMain)} (${met(busMain) ? 'met' : 'missed'}), worker thread ${ratio(busWorker)} (${met(busWorker) ? 'met' : 'missed'}); ${ratio(f.mainBusVsPlain as number)} of the rate without a bus from the main thread, ${ratio(f.workerBusVsPlain as number)} from the worker.`,
    )
    out.push(
      `From the main thread a near hit with a bus cost ${fixed(busNs)} ns per call, ${extra >= 0 ? `${fixed(extra)} ns more` : `${fixed(-extra)} ns less`} than without${busGap > 0 ? `, ${fixed(busGap)} ns more than \`await fetch()\`` : `, ${fixed(-busGap)} ns less than \`await fetch()\``}. The check is an \`Atomics.load\` of the serve-until time and a read of the monotonic clock (src/shared/memory/liveness.ts \`Liveness.remaining\`, src/shared/clock.ts); that read alone, in a loop, cost ${fixed(clockNs)} ns here, and the replica took ${fixed(liveNs)} ns per awaited call with the check against ${fixed(replicaNs)} ns without (${checkNs >= 0 ? `${fixed(checkNs)} ns for the check` : 'no measurable difference'}). ` +
        (metBoth
          ? `In this run the check fit inside the room the hit without a bus leaves against \`fetch()\`.`
          : `What stands in the way: of the ${fixed(busGap)} ns by which the hit with a bus trails \`fetch()\`, ${gap > 0 ? `${fixed(Math.min(gap, busGap))} ns are there without a bus too (above), and ` : ''}the check adds ${extra > 0 ? `${fixed(extra)} ns (with a bus − without)` : 'nothing measurable in this run'}, ${extra > 0 && clockNs >= extra ? `and the clock read alone costs ${fixed(clockNs)} ns in a loop, as much as that whole difference` : `of which the clock read alone is ${fixed(clockNs)} ns${extra > 0 && clockNs > 0 ? ` (${fixed((clockNs / extra) * 100)}%)` : ''}`}. The clock cannot simply be read less often: the guarantee is that a process stopped or blocked past its serving time serves nothing stored from the first instant it runs again, so each hit must look at the clock itself (a time kept by a timer, or read every Nth hit, would let the hits right after a SIGCONT through). Only a cheaper clock read would shrink that part; what one costs depends on the machine and its clock source (section 1–2 names this one's).`),
    )
  }
  const ttlMain = f.mainTtlRatioVsFetchTtl as number
  const ttlWorker = f.workerTtlRatioVsFetchTtl as number
  if (Number.isFinite(ttlMain)) {
    const metTtl = (x: number) => x >= TTL_AIM
    const ttlNs = 1e9 / (f.mainTtlRate as number)
    const fetchTtlNs = 1e9 / (f.mainFetchTtlRate as number)
    out.push(
      `**With a \`ttl\`, a near hit at least ${ratio(TTL_AIM)} of lru-cache \`await fetch()\` with its own \`ttl\`** (throughput ratio; caches without a bus): main thread ${ratio(ttlMain)} (${metTtl(ttlMain) ? 'met' : 'missed'}), worker thread ${ratio(ttlWorker)} (${metTtl(ttlWorker) ? 'met' : 'missed'}). ` +
        `From the main thread a near hit with a \`ttl\` cost ${fixed(ttlNs)} ns per call against ${fixed(fetchTtlNs)} ns for \`fetch()\` with a \`ttl\`, and ${ratio(f.mainTtlVsPlain as number)} of the rate of a near hit without one (${ratio(f.workerTtlVsPlain as number)} from the worker): a copy with an expiry is compared with the clock on every hit (src/caller/near.ts \`Near.get\`), a clock read that a cache without \`ttl\` skips (the no-\`ttl\` rows above are the aim that users who do not set one see).`,
    )
  }
  if (Number.isFinite(f.mainTtlNearShare as number) && (f.mainTtlNearShare as number) < 0.999) {
    out.push(`With a \`ttl\`, only ${fixed((f.mainTtlNearShare as number) * 100, 1)}% of the measured hits came from a near copy: the rest crossed threads, which would explain a slow hit with a \`ttl\` on its own.`)
  }
  const coopDrop = f.togetherCoopVsAlone as number
  const fetchDrop = f.togetherFetchVsAlone as number
  if (Number.isFinite(coopDrop) && Number.isFinite(fetchDrop)) {
    out.push(
      coopDrop < fetchDrop * 0.85
        ? `With two threads hitting at once, coop-cache kept ${ratio(coopDrop)} of its single-thread rate where lru-cache (one per thread, nothing shared) kept ${ratio(fetchDrop)}. A near hit writes nothing shared (it counts itself in a number of its thread's, added to the shared counter once per turn), but it reads the count of changes from one small SharedArrayBuffer that every thread reads and the owners write to; the extra loss suggests the threads contend there, or for the cores with the owner threads (not measured apart here).`
        : `With two threads hitting at once, coop-cache kept ${ratio(coopDrop)} of its single-thread rate and lru-cache (one per thread, nothing shared) ${ratio(fetchDrop)}: in this run what the threads share on a near hit (a read of the count of changes; near hits are counted per thread) showed no contention cost beyond what two busy threads cost on this machine anyway.`,
    )
  }
  if (Number.isFinite(f.mainNearShare as number) && (f.mainNearShare as number) < 0.999) {
    out.push(`Only ${fixed((f.mainNearShare as number) * 100, 1)}% of the measured hits came from a near copy: the rest crossed threads, which would explain a slow hit on its own.`)
  }
  if (Number.isFinite(f.mainBusNearShare as number) && (f.mainBusNearShare as number) < 0.999) {
    out.push(`With a bus, only ${fixed((f.mainBusNearShare as number) * 100, 1)}% of the measured hits came from a near copy: the rest crossed threads (the process was not serving at that moment, or a copy was missing), which would explain a slow hit with a bus on its own.`)
  }
  return out
}

function cross(f: Record<string, number>): string[] {
  const out: string[] = []
  const side = (who: 'main' | 'worker') => {
    const latency = f[`${who}LatencyRatio`] as number
    const pipe = f[`${who}PipeRatio`] as number
    return { latency, pipe, latencyMet: latency <= 1.5, pipeMet: pipe >= PIPE_AIM }
  }
  const m = side('main')
  const w = side('worker')
  out.push(
    `**Cross-thread hit p50 within 1.5x a bare round trip**: main thread ${ratio(m.latency)} (${m.latencyMet ? 'met' : 'missed'}; ${ns(f.mainCoopP50 as number)} against ${ns(f.mainBareP50 as number)}), worker thread ${ratio(w.latency)} (${w.latencyMet ? 'met' : 'missed'}; ${ns(f.workerCoopP50 as number)} against ${ns(f.workerBareP50 as number)}).${Math.min(m.latency, w.latency) < 0.9 ? ' A cross-thread hit cannot be faster than a bare round trip: a ratio well below 1 says that one-at-a-time figures here are dominated by how soon a sleeping thread wakes up, which varies with the load on the machine.' : ''}`,
  )
  out.push(
    `**Pipelined cross-thread throughput ≥ ${ratio(PIPE_AIM)} the bare one-message-per-call round trip** (1,000 in flight): main thread ${ratio(m.pipe)} (${m.pipeMet ? 'met' : 'missed'}; ${rate(f.mainCoopPipeRate as number)} against ${rate(f.mainBarePipeRate as number)}), worker thread ${ratio(w.pipe)} (${w.pipeMet ? 'met' : 'missed'}; ${rate(f.workerCoopPipeRate as number)} against ${rate(f.workerBarePipeRate as number)}).`,
  )
  const perCall = (r: number) => 1e9 / r
  const coop = perCall(f.mainCoopPipeRate as number)
  const bare = perCall(f.mainBarePipeRate as number)
  const clone = perCall(f.mainClonePipeRate as number)
  const bytes = perCall(f.mainBytesPipeRate as number)
  const distance = coop - bare
  const shape = clone - bare
  const own = coop - clone
  const share = (x: number) => `${fixed((x / distance) * 100)}%`
  if (distance > 0) {
    out.push(
      `Where the time goes (main thread, pipelined, per call): coop-cache ${ns(coop)}, bare ${ns(bare)}, a distance of ${ns(distance)}. A plain round trip answered the way an owner answers a hit on a small value — \`{ type, id, key, epoch, value, how, fence }\` with the value cloned — took ${ns(clone)}: the reply's shape (a ${fixed(f.valueSize as number)}-byte object, a fence and three more fields cloned, against three small fields echoed) accounts for ${ns(Math.max(0, shape))}${shape > 0 && shape < distance ? ` (${share(shape)})` : ''}${own > 0 ? `, and coop-cache's own work per request for the remaining ${ns(own)} (${share(own)}); reading src/caller/client.ts and src/owner/owner.ts (it is not measured apart here), that is the per-key group and the open-request maps, the port's \`ref()\`/\`unref()\` as a link's first request opens and its last closes, the owner's epoch check, LRU look-up and counters per message, and the caller's epoch check per reply` : '; coop-cache\'s own work per request does not show beyond that in this run'}. Answering with the value's v8 bytes instead, and \`v8.deserialize\` on arrival (as owners do for values over 16 KiB), took ${ns(bytes)} per call; \`v8.deserialize\` of this value alone took ${ns(f.mainDeserialize as number)}.`,
    )
  }
  if (!m.pipeMet || !w.pipeMet) {
    const cloneRatio = (f.mainClonePipeRate as number) / (f.mainBarePipeRate as number)
    out.push(
      cloneRatio < PIPE_AIM
        ? `Even the owner-shaped round trip alone reached only ${ratio(cloneRatio)} of the bare one here, so on this machine the aim cannot be met by trimming coop-cache's own work: a reply carries the value, its key and the key's fence, where the bare echo carries three small fields.`
        : `The owner-shaped round trip alone reached ${ratio(cloneRatio)} of the bare one, so the reply's shape leaves room for the aim; what is missing is coop-cache's own per-request work named above.`,
    )
  }
  if (Number.isFinite(f.mainWidePipeRate as number)) {
    const widePipe = f.mainWidePipeRate as number
    const coopPipe = f.mainCoopPipeRate as number
    out.push(
      `With the default owner count (${fixed(f.wideThreads as number)} owner threads on this machine) the pipelined rate was ${rate(widePipe)} against ${rate(coopPipe)} with one owner, and p50 ${ns(f.mainWideP50 as number)} against ${ns(f.mainCoopP50 as number)}${widePipe < coopPipe ? `: on ${fixed(f.wideThreads as number)} cores the calling thread and the owners share the cores, so more owners did not help here` : ': more owners helped here'}.`,
    )
  }
  return out
}

function stampede(f: Record<string, number>): string[] {
  const exact = f.coopExact === 1
  return [
    `**Each value computed once, however many callers**: ${exact ? `met — ${fixed(f.coopComputations as number)} computations for K = ${fixed(f.keys as number)} keys in every round` : `**missed** — the median round ran ${fixed(f.coopComputations as number)} computations for K = ${fixed(f.keys as number)} keys (see section 4 for every round)`}, where one lru-cache per thread ran ${fixed(f.lruComputations as number)}. The stampede took ${fixed(f.coopWallMs as number, 1)} ms against ${fixed(f.lruWallMs as number, 1)} ms for lru-cache (one \`fn\` takes ${fixed(f.computeMs as number)} ms): the difference is the cost of asking an owner in another thread for each key first: each thread's callers are started in one synchronous loop, and its requests leave together when the loop ends, where lru-cache runs each \`fn\` inside the loop as its first call is made. ${(f.wrong as number) > 0 || (f.errors as number) > 0 ? `**${fixed(f.wrong as number)} wrong answers and ${fixed(f.errors as number)} errors were seen.**` : 'No wrong answer and no error was seen.'}`,
  ]
}

function scale(f: Record<string, number>): string[] {
  const lo = f.minN as number
  const nearHi = f.maxNearN as number
  const farHi = f.maxFarN as number
  const lruHi = f.maxN as number
  if (!(lruHi > lo)) return []
  const g = (prefix: string, hi: number) => (f[`${prefix}${hi}P50`] as number) / (f[`${prefix}${lo}P50`] as number)
  const at = (n: number) => n.toLocaleString('en-US')
  const parts: string[] = []
  if (nearHi > lo) {
    const nearAdd = (f[`near${nearHi}P50`] as number) - (f[`near${lo}P50`] as number)
    const lruAdd = (f[`lru${nearHi}P50`] as number) - (f[`lru${lo}P50`] as number)
    parts.push(
      `between ${at(lo)} and ${at(nearHi)} entries the near-copy hit p50 went from ${ns(f[`near${lo}P50`] as number)} to ${ns(f[`near${nearHi}P50`] as number)} (${ns(nearAdd)} more), while lru-cache \`get\` went from ${ns(f[`lru${lo}P50`] as number)} to ${ns(f[`lru${nearHi}P50`] as number)} (${ns(lruAdd)} more)${nearAdd <= lruAdd * 1.25 ? ': a near hit grows by no more than an LRU look-up in a map of that size, which is what the near copies are' : ': a near hit grows by more than an LRU look-up in a map of that size; near copies keep each value inside a \`{ promise, size }\` record in their own LRU, one more object to reach on each hit, which suggests where the extra goes once the map outgrows the CPU caches (not measured apart here)'}`,
    )
  }
  if (farHi > lo) {
    const farGrowth = g('far', farHi)
    parts.push(
      `the nearLimit-0 hit p50 went from ${ns(f[`far${lo}P50`] as number)} to ${ns(f[`far${farHi}P50`] as number)} between ${at(lo)} and ${at(farHi)} entries (${ratio(farGrowth)})${farGrowth < 1.5 ? ': the thread crossing (tens of µs, and as variable as the scheduling of the owner thread) dominates whatever the store size' : ', more than the crossing alone would explain'}`,
    )
  }
  const out = [`**Hit latency as entries grow** (no numeric aim): ${parts.join('; ')}.`]
  if ((f.skipped as number) > 0) out.push(`Some series were left out at the largest sizes to keep to the time budget (section 5 says which): filling through \`cached()\` took ${fixed(f[`fill${farHi}Seconds`] as number, 1)} s for ${at(farHi)} entries.`)
  const perEntry = f[`rssPerEntry${farHi}`] as number
  const counted = (f[`storedBytes${farHi}`] as number) / farHi
  if (farHi >= 100_000 && Number.isFinite(perEntry)) {
    out.push(
      `Memory: at ${at(farHi)} small entries each counted ${fixed(counted, 1)} bytes against memoryLimit (what an entry takes: its value on the heap, its key, the store's own per entry), while filling them added about ${fixed(perEntry)} bytes of RSS per entry (${fixed(perEntry / counted, 2)}x), the main thread's young generation and what it kept of the fill's messages included; section 6 sets RSS against memoryLimit at each value size.`,
    )
  }
  return out
}

function memory(f: Record<string, number>): string[] {
  const limit = f.memoryLimit as number
  const ok = f.roundsOverLimit === 0
  const out = [
    `**Stored bytes never above memoryLimit**: ${ok ? 'met' : '**missed**'} — with ten times the limit offered, stats().bytes ended at ${bytes(f.rejectBytes as number)} of ${bytes(limit)} with policy 'reject' (${fixed(f.rejectStored as number)} stored, ${fixed(f.rejectRejected as number)} rejected) and ${bytes(f.evictBytes as number)} with 'evict' (${fixed(f.evictEvicted as number)} evicted)${ok ? ', and was never above the limit when read during the offers' : ''}.${(f.roundsUnaccounted as number) > 0 ? ` In ${fixed(f.roundsUnaccounted as number)} round(s) stored + rejected did not add up to the offers.` : ''} The process's RSS ended at ${bytes(f.rssEnd as number)}.`,
  ]
  if (!ok) {
    out.push(
      `stats().bytes read above memoryLimit in ${fixed(f.roundsOverLimitReject as number)} 'reject' round(s) and ${fixed(f.roundsOverLimitEvict as number)} 'evict' round(s), by at most ${fixed(f.worstOver as number)} B, less than one entry (${fixed(f.entrySize as number)} B). An excess smaller than an entry points at the counters rather than the store: stats() sums the owners' byte rows one after another, and an owner that evicts gives its reservation back (src/store.ts, dispose: \`release\`) before it lowers its own row, so another owner can store into the freed room while the first row still counts the evicted entry. Reporting the shared reservation counter, which the reservation's compare-and-swap keeps under the limit, would make the figure hold the documented promise.`,
    )
  }
  return [...out, ...memoryRss(f)]
}

/** What scenario 6 says of RSS against memoryLimit, at each value size (issue 10). */
function memoryRss(f: Record<string, number>): string[] {
  const large = f.rssLarge as number
  if (!Number.isFinite(large)) return []
  const judged = RSS_CELLS.flatMap(({ label }, i) =>
    (['reject', 'evict'] as const).flatMap((policy) => {
      const slope = f[`rss${i}${policy}Slope`] as number
      return Number.isFinite(slope) ? [{ label, policy, slope, fixed: f[`rss${i}${policy}Fixed`] as number, growth: f[`rss${i}${policy}Growth`] as number }] : []
    }),
  )
  const missed = judged.filter((c) => c.slope > RSS_AIM)
  const worst = judged.reduce((a, b) => (b.slope > a.slope ? b : a), judged[0] as (typeof judged)[number])
  const fixedMost = Math.max(...judged.map((c) => c.fixed))
  const out = [
    `**Filling to memoryLimit grows RSS by at most ${RSS_AIM} times the limit beyond a fixed cost, from 16 B to 1 MiB values** (slope of RSS against memoryLimit, after gc in every thread): ${missed.length === 0 ? 'met at every size and policy' : `**missed** at ${missed.length} of ${judged.length}: ${missed.map((c) => `${c.label} \`${c.policy}\` ${fixed(c.slope, 2)}`).join(', ')}`}; the steepest, ${worst.label} \`${worst.policy}\`, ${fixed(worst.slope, 2)}. The fixed cost (what the fill at ${bytes(f.rssSmall as number)} added beyond ${RSS_AIM} times it) was at most ${bytes(Math.max(0, fixedMost))}; at ${bytes(large)}, RSS grew by ${fixed(Math.min(...judged.map((c) => c.growth)) / large, 2)}x to ${fixed(Math.max(...judged.map((c) => c.growth)) / large, 2)}x the limit, that cost included.`,
  ]
  if (missed.length > 0) {
    out.push(
      `What is not in the count: V8 leaves old space unused between small objects (store.ts ENTRY counts about 100 B of it per entry, measured at 32 MiB, and a fuller or more churned heap leaves more), and with \`evict\`, the bytes of evicted values are freed only when the owner's heap is next collected, and the allocator keeps the memory for reuse rather than giving it back. A slope above the aim at one size and not the others points at the first when the values are small, the second when they are bytes (16 KiB and over, or Buffers).`,
    )
  }
  return out
}

/** The buses of scenario 7 by their figures' prefix, as prose and the charts name them. */
export const BUS_NAMES: Record<string, string> = { ipc: 'ipc', nats: 'NATS', redis: 'Redis' }

/** The aim for `secret` (issue 7): under 10%, with / without, on a remote hit and on reset propagation. */
const SECRET_P50 = 1.1
const SECRET_RATE = 0.91

/** What scenario 7 says of the cost of `secret`: each bus, against the aim, and what the sealing itself accounts for. */
function clusterSecret(f: Record<string, number>): string[] {
  const buses = ['ipc', 'nats', 'redis'].filter((b) => Number.isFinite(f[`${b}SecretHitP50Ratio`] as number))
  if (buses.length === 0) return []
  const pct = (x: number) => `${fixed(Math.abs(x) * 100)}%`
  const checks = buses.flatMap((b) => {
    const g = (name: string) => f[`${b}${name}`] as number
    return [
      { bus: b, what: 'remote hit p50', x: g('SecretHitP50Ratio'), ok: g('SecretHitP50Ratio') <= SECRET_P50, over: g('SecretHitP50Ratio') - 1, by: g('SecretHitP50Ratio') - SECRET_P50 },
      { bus: b, what: `remote hit rate, ${fixed(f.inFlight as number)} in flight`, x: g('SecretHitPipeRatio'), ok: g('SecretHitPipeRatio') >= SECRET_RATE, over: 1 - g('SecretHitPipeRatio'), by: SECRET_RATE - g('SecretHitPipeRatio') },
      { bus: b, what: 'reset p50 to onReset in both', x: g('SecretResetP50Ratio'), ok: g('SecretResetP50Ratio') <= SECRET_P50, over: g('SecretResetP50Ratio') - 1, by: g('SecretResetP50Ratio') - SECRET_P50 },
    ]
  })
  const missed = checks.filter((c) => !c.ok)
  const each = buses
    .map((b) => {
      const g = (name: string) => f[`${b}${name}`] as number
      return `${BUS_NAMES[b]}: remote hit p50 ${ratio(g('SecretHitP50Ratio'))}, in flight ${ratio(g('SecretHitPipeRatio'))}, reset p50 ${ratio(g('SecretResetP50Ratio'))} (p99 ${ratio(g('SecretResetP99Ratio'))})`
    })
    .join('; ')
  const out = [
    `**A \`secret\` costs under 10%** (with / without, in the same run: p50 at most ${ratio(SECRET_P50)}, rate in flight at least ${ratio(SECRET_RATE)}): ${missed.length === 0 ? 'met on every bus' : `**missed** ${missed.length} time(s) of ${checks.length}`} — ${each}.` +
      (missed.length === 0
        ? ''
        : ` Missed: ${missed.map((c) => `${BUS_NAMES[c.bus]} ${c.what} ${ratio(c.x)} (the secret cost ${pct(c.over)}, ${fixed(c.by * 100)} points past the aim)`).join('; ')}.`),
  ]
  const sealNs = f.sealOpenNs as number
  const plainNs = f.plainSealOpenNs as number
  const extra = sealNs - plainNs
  if (!Number.isFinite(extra)) return out
  // What the sealing alone would make of each ratio: a remote hit seals and opens two messages one
  // after the other (A's get, B's value); at the rate in flight each agent seals one and opens one
  // per hit, so if the busiest agent were the bottleneck its time per hit grows by `extra`; a
  // reset is sealed once in A and opened in B and C side by side.
  const expect = (c: { bus: string; what: string }) => {
    if (c.what.startsWith('remote hit p50')) return 1 + (2 * extra) / (f[`${c.bus}HitP50`] as number)
    if (c.what.startsWith('reset')) return 1 + extra / ((f[`${c.bus}ResetAllP50`] as number) * 1e6)
    return 1 / (1 + extra * (f[`${c.bus}HitPipe`] as number) * 1e-9)
  }
  out.push(
    `What the sealing itself accounts for: sealing and opening one message took ${ns(sealNs)} with a secret and ${ns(plainNs)} without, in a loop (a \`value\` message of ${fixed(f.sealedMessageBytes as number)} bytes; one HMAC-SHA256 to seal, one to check): ${ns(extra)} more per message. A remote hit carries two messages, each sealed once and opened once, one after the other (${ns(2 * extra)} more); a reset, one sealed in A and opened in B and in C side by side (${ns(extra)} more, against milliseconds). By the sealing alone the ratios would be: ${buses.map((b) => `${BUS_NAMES[b]} remote hit p50 ${ratio(expect({ bus: b, what: 'remote hit p50' }))}, in flight ${ratio(expect({ bus: b, what: 'in flight' }))} (if the busiest agent were the bottleneck), reset p50 ${ratio(expect({ bus: b, what: 'reset' }))}`).join('; ')}.`,
  )
  if (missed.length > 0) {
    const beyond = missed.filter((c) => Math.abs(c.x - 1) > 2 * Math.abs(expect(c) - 1))
    const within = missed.filter((c) => !beyond.includes(c))
    if (beyond.length > 0) {
      const pipes = [...new Set(beyond.filter((c) => c.what.includes('in flight')).map((c) => c.bus))]
      out.push(
        `${beyond.map((c) => `${BUS_NAMES[c.bus]} ${c.what}`).join(', ')}: missed by more than twice what the sealing costs in a loop, so that cost does not explain ${beyond.length === 1 ? 'it' : 'them'}. The two caches differ only by the secret, so what is left is either sealing that costs more in the agents than in a loop (a busy process${pipes.length > 0 ? '; and with many calls in flight, a request still waiting after a heartbeat is sent again, sealed again' : ''}) or a difference between the rounds of this run${pipes.length > 0 ? ` (spread of rounds of the rate in flight, without / with a secret: ${pipes.map((b) => `${BUS_NAMES[b]} ${fixed(f[`${b}HitPipeSpread`] as number)}% / ${fixed(f[`${b}SecretHitPipeSpread`] as number)}%`).join(', ')})` : ''}${beyond.some((c) => c.what.startsWith('reset')) ? `; a reset's p50 is over ${fixed(f.resets as number)} resets per cache, which a few slow ones move` : ''}. A quieter machine or more rounds (BENCH_ROUNDS) would tell them apart.`,
      )
    }
    if (within.length > 0) {
      out.push(
        `${within.map((c) => `${BUS_NAMES[c.bus]} ${c.what}`).join(', ')}: missed by about what the sealing costs, so the HMAC itself stands in the way: two sealings and two checks per remote hit, each a new \`createHmac\` over the message. What would shrink it is fewer messages per hit (several gathered into one envelope, so one MAC covers them), not a faster network.`,
      )
    }
  }
  return out
}

/**
 * What scenario 7's figures say; written into its own section too, since `npm run
 * bench:cluster` records that section alone.
 */
export function cluster(f: Record<string, number>): string[] {
  const buses = ['ipc', 'nats', 'redis'].filter((b) => Number.isFinite(f[`${b}HitP50`] as number))
  if (buses.length === 0) return []
  const keys = f.keys as number
  const out: string[] = []
  const missed = buses.filter((b) => f[`${b}StampedeExact`] !== 1)
  const each = buses.map((b) => `${BUS_NAMES[b]} ${fixed(f[`${b}StampedeMedian`] as number)} (${fixed(f[`${b}StampedeWallMs`] as number)} ms)`).join(', ')
  const lock = Number.isFinite(f.lockStampedeMedian as number)
    ? ` The Redis lock per key ran ${fixed(f.lockStampedeMedian as number)} (median) too and took ${fixed(f.lockWallMs as number)} ms, with ${(f.lockCommands as number).toLocaleString('en-US')} Redis commands per stampede (median), most of them the waiters' GETs every poll.`
    : ''
  out.push(
    `**Each value computed once across processes** (three processes, K = ${fixed(keys)}): ${missed.length === 0 ? 'met on every bus, in every round' : `**missed** over ${missed.map((b) => BUS_NAMES[b]).join(', ')}`} — computations, median, and wall time: ${each}; one \`fn\` takes ${fixed(f.computeMs as number)} ms.${lock}${(f.stampedeWrong as number) > 0 || (f.stampedeErrors as number) > 0 ? ` **${fixed(f.stampedeWrong as number)} wrong answers and ${fixed(f.stampedeErrors as number)} errors were seen.**` : ''}`,
  )
  const hits = buses
    .map((b) => `${BUS_NAMES[b]} ${ns(f[`${b}HitP50`] as number)} against ${ns(f[`${b}FloorP50`] as number)} (${ratio((f[`${b}HitP50`] as number) / (f[`${b}FloorP50`] as number))})`)
    .join(', ')
  const pipes = buses
    .map((b) => `${BUS_NAMES[b]} ${rate(f[`${b}HitPipe`] as number)} against ${rate(f[`${b}FloorPipe`] as number)} (${ratio((f[`${b}HitPipe`] as number) / (f[`${b}FloorPipe`] as number))}; ${ratio((f[`${b}HitPipe`] as number) / (f[`${b}SplitPipe`] as number))} of the split floor)`)
    .join(', ')
  out.push(
    `**A remote hit against the bus's own round trip** (no numeric aim): p50 ${hits}. Beyond the bus, a remote hit makes three round trips between threads — in A caller → owner → agent and back, in B agent → owner → agent — each a \`postMessage\` that may have to wake a thread (scenario 3 measures one such round trip at tens of µs), and its request and answer are serialized and read again on the way (the peer messages, and the value once more in B); that is where the p50 above the floor goes, though it is not measured apart here. With ${fixed(f.inFlight as number)} calls in flight: ${pipes}. The floor's in-flight rate counts on the client writing many pings and pongs at once. The agent does the same: the messages of one turn of its event loop go to each peer in one envelope (src/peer/agent.ts \`#enqueue\`); the "split" floor, each ping and pong sent from a task of its own as the agent sent them before, shows what that batching is worth on each bus${Number.isFinite(f.natsSplitPipe as number) && (f.natsSplitPipe as number) < 0.5 * (f.natsFloorPipe as number) ? ` — most on NATS, whose client writes everything published within one task in one socket write: split, its floor fell from ${rate(f.natsFloorPipe as number)} to ${rate(f.natsSplitPipe as number)}` : ''}. What keeps a remote hit in flight under the floor is CPU rather than the bus: each call is handled in four threads and serialized and read again on the way, and A's main thread, the agent's and the callers', was the busiest (a profile of 256 in flight over Redis, alone: 65% busy, the time spread over posting to the owners 8%, GC 7%, checking each message 4%, reading envelopes 4%, the asks' bookkeeping 4%), with no single step to take away.`,
  )
  const strays = buses.filter((b) => (f[`${b}Unexpected`] as number) > 0 || (f[`${b}SecretUnexpected`] as number) > 0)
  if (strays.length > 0) {
    out.push(
      `**A computed keys where every call should have been a hit** (without / with a secret): ${strays.map((b) => `${BUS_NAMES[b]} ${fixed(f[`${b}Unexpected`] as number)} / ${fixed((f[`${b}SecretUnexpected`] as number | undefined) ?? Number.NaN)}`).join(', ')}. A process computes, uncached, when it has stopped serving (it has not heard the bus within peerTimeout, as after a stall) or has taken the key's owner for gone; those calls are inside the figures above, which are then not of remote hits alone.`,
    )
  }
  if (Number.isFinite(f.getP50 as number)) {
    out.push(
      `Against a plain Redis \`GET\` from the same process (${ns(f.getP50 as number)} p50, ${rate(f.getPipe as number)} in flight), a coop-cache remote hit over Redis took ${ratio((f.redisHitP50 as number) / (f.getP50 as number))} the time at p50: it is a pub/sub round trip to another Node process and that process's owner thread, where a \`GET\` is one request to Redis. A process asks another for a key only once per reset, though — values from another process are kept in the asking one — and such a hit (${ns(f.redisAgainP50 as number)} p50 here) took ${ratio((f.redisAgainP50 as number) / (f.getP50 as number))} the time of the \`GET\`.`,
    )
  }
  const resets = buses
    .map((b) => `${BUS_NAMES[b]} ${fixed(f[`${b}ResetAllP50`] as number, 2)} / ${fixed(f[`${b}ResetAllP99`] as number, 2)} ms`)
    .join(', ')
  const firsts = buses.map((b) => `${BUS_NAMES[b]} ${fixed(f[`${b}FirstResetResolved`] as number)} ms`).join(', ')
  const missedResets = buses.reduce((s, b) => s + (f[`${b}ResetMissed`] as number) + ((f[`${b}SecretResetMissed`] as number | undefined) ?? 0), 0)
  out.push(
    `**Resets reach every peer**: from \`reset()\` in A to \`onReset\` in both other processes, p50 / p99: ${resets}${missedResets > 0 ? `; **${fixed(missedResets)} resets were not heard by some peer within 10 s**` : '; every reset was heard by both'}. The first reset of each bus took longer to resolve in A (${firsts}): \`reset()\` waits for this process's owner to drop the old entries, and only the first reset had many to drop (the tens of thousands the hit measurements left).`,
  )
  if (buses.some((b) => Number.isFinite(f[`${b}InvResolvedP50`] as number))) {
    const ms = (b: string, name: string) => `${fixed(f[`${b}${name}P50`] as number, 2)} / ${fixed(f[`${b}${name}P99`] as number, 2)} ms`
    const odd = buses.reduce((s, b) => s + (f[`${b}InvNotHeld`] as number) + (f[`${b}InvFailed`] as number) + (f[`${b}InvNotGone`] as number), 0)
    out.push(
      `**Invalidations reach every peer**: from \`invalidate()\` in A to it resolving (every live peer has applied it), p50 / p99: ${buses.map((b) => `${BUS_NAMES[b]} ${ms(b, 'InvResolved')}`).join(', ')}, beside \`reset()\` resolving in A: ${buses.map((b) => `${BUS_NAMES[b]} ${ms(b, 'ResetResolved')}`).join(', ')}. Where B and C watched, the old value was gone from both after ${buses.map((b) => `${BUS_NAMES[b]} ${ms(b, 'InvGoneAll')}`).join(', ')} (to within one \`peek\`)${odd > 0 ? `; **some invalidations did not go as expected** (section 7 says which)` : ''}.`,
    )
  }
  out.push(...clusterSecret(f))
  return out
}

/** `ran`: the scenarios this run started; one of them without figures failed. */
export function whatStandsBetween(figures: Figures, ran: readonly string[]): string {
  const parts: string[] = []
  const add = (name: string, write: (f: Record<string, number>) => string[]) => {
    const f = figures[name]
    if (f === undefined && ran.includes(name)) parts.push(`*(The ${name} scenario failed in this run (see its section); its aim is not judged here.)*`)
    else if (f === undefined) return
    else parts.push(...write(f))
  }
  add('hit', hit)
  add('cross-thread', cross)
  add('stampede', stampede)
  add('scale', scale)
  add('memory', memory)
  // Its other paragraphs are in section 7 itself; the aims are the stampede's and the secret's.
  add('cluster', (f) => [...cluster(f).slice(0, 1), ...clusterSecret(f)])
  add('peers', (f) => peers(f, figures['cross-thread']))
  return parts.join('\n\n')
}
