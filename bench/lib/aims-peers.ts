// Scenario 8's part of "What stands between us and the aims" (lib/aims.ts): the aims of issue 10,
// each met or missed with its ratio, and what the figures beside it say stands in the way. As in
// aims.ts, every number comes from the figures of the run (bench/peers.ts names them).

import { bytes, count, ns, rate, ratio } from './measure.js'

type F = Record<string, number>

/** The aims of issue 10. */
export const PEER_AIMS = {
  /** first hit in another process, with replicas on every process: at most this × a Redis GET p50 */
  firstVsGet: 1.0,
  /** first hit in another process, not replicated there: at most this × the bus's ping/pong p50 */
  firstVsFloor: 1.5,
  /** first hits in another process, not replicated there, 256 in flight: at least this × the bus floor's rate */
  firstPipeVsFloor: 1.0,
  /** 3 × 1,000 callers: wall time at most this × async-cache-dedupe's */
  stampedeVsDedupe: 1.0,
  /** invalidate everything over Redis, until no process serves the old value: ms */
  clearP50Ms: 1.0,
  clearP99Ms: 3.0,
  /** RSS per entry: at most this × lru-cache's */
  rssVsLru: 1.0,
  /** fill rate: at least this × lru-cache's */
  fillVsLru: 0.5,
  /** one-process stampede: wall time at most this × lru-cache's */
  localVsLru: 1.0,
} as const

const fixed = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a')
const verdict = (ok: boolean, x: number) => (Number.isFinite(x) ? (ok ? 'met' : '**missed**') : 'not measured')
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)} ms` : 'n/a')

/** `cross`: scenario 3's figures, when it ran too (what a thread round trip costs on this machine). */
function across(f: F, cross: F | undefined): string[] {
  if (!Number.isFinite(f.first_coop1P50 as number)) return ['*(The rows across processes of scenario 8 did not run (Redis not reachable): their aims are not judged.)*']
  const out: string[] = []
  const g = (k: string) => f[k] as number
  const replicated = g('heldInCAll') >= g('firstKeys')
  const allVsGet = g('first_coopAllVsGet')
  const oneVsFloor = g('first_coop1VsFloor')
  out.push(
    `**First hit in another process ≤ ${ratio(PEER_AIMS.firstVsGet)} a Redis \`GET\` p50, with replicas on every process** (\`replicas: 'all'\`): ${ratio(allVsGet)} (${verdict(allVsGet <= PEER_AIMS.firstVsGet, allVsGet)}; ${ns(g('first_coopAllP50'))} against ${ns(g('first_getP50'))}).` +
      (replicated
        ? ` C held every value A had computed before it asked, so this is a local hit in C${Number.isFinite(g('firstNearShare')) ? `: ${(g('firstNearShare') * 100).toFixed(1)}% of C's first hits came from a near copy of the thread that asked (C's owners offer such a thread each copy as they store it), the others from C's owner thread` : ''}.`
        : ` A's fill added ${count(g('heldInCAll'))} of its ${count(g('firstKeys'))} values to C's cache before C asked: this build does not replicate yet, and the figure is of a value fetched from A over the bus; the aim needs the replication being built on main, after which the first hit in C is a hit in C's own owner thread (scenario 3 measures such a crossing in tens of µs, under a Redis round trip).`),
  )
  const above = g('first_coop1P50') - g('first_floorP50')
  out.push(
    `**First hit in another process ≤ ${ratio(PEER_AIMS.firstVsFloor)} the bus's ping/pong p50, where it is not replicated** (\`replicas: 1\`): ${ratio(oneVsFloor)} (${verdict(oneVsFloor <= PEER_AIMS.firstVsFloor, oneVsFloor)}; ${ns(g('first_coop1P50'))} against ${ns(g('first_floorP50'))}, ${ns(above)} above the floor). Beyond the bus, such a hit crosses threads three times — in C caller → owner → agent and back, in A agent → owner → agent — each a \`postMessage\` that may have to wake a thread, and the value is serialized and read on the way; with three processes, six owner threads and Redis on the same cores, that is where the time above the floor goes, though it is not measured apart here (scenario 7 sets the same hit beside the same floor, per bus).${oneVsFloor > PEER_AIMS.firstVsFloor ? outOfReach(g('first_floorP50'), cross?.mainBareP50) : ''}`,
  )
  const pipeVsFloor = g('first_coop1Pipe') / g('first_floorPipe')
  out.push(
    `**The same first hits, 256 in flight, ≥ ${ratio(PEER_AIMS.firstPipeVsFloor)} the bus floor's rate** (\`replicas: 1\`; the floor's pings written as they come, as the agent gathers its messages over a turn of its event loop into one envelope per peer): ${ratio(pipeVsFloor)} (${verdict(pipeVsFloor >= PEER_AIMS.firstPipeVsFloor, pipeVsFloor)}; ${rate(g('first_coop1Pipe'))} against ${rate(g('first_floorPipe'))}). The bus carries as many messages per call as the floor's ping and pong; what is left is CPU: each call is handled in four threads and its messages serialized and read in each process (scenario 7 has the profile).`,
  )
  const exact = (lib: string) => g(`st_${lib}Exact`) === 1
  const stVs = (lib: string) => g(`st_${lib}WallMs`) / g('st_acdWallMs')
  const stOk = (lib: string) => exact(lib) && stVs(lib) <= PEER_AIMS.stampedeVsDedupe
  out.push(
    `**3 × ${count(g('stampedeCallers'))} callers on ${fixed(g('stampedeKeys'))} cold keys: exactly ${fixed(g('stampedeKeys'))} computations, and wall time ≤ ${ratio(PEER_AIMS.stampedeVsDedupe)} async-cache-dedupe's**: ` +
      ['coop1', 'coopAll']
        .map((lib) => `${lib === 'coop1' ? '`replicas: 1`' : "`replicas: 'all'`"} ${fixed(g(`st_${lib}Computations`))} computations (${exact(lib) ? 'exactly K in every round' : '**not exactly K in every round**'}), wall ${ms(g(`st_${lib}WallMs`))}, ${ratio(stVs(lib))} (${verdict(stOk(lib), stVs(lib))})`)
        .join('; ') +
      `; async-cache-dedupe ran ${fixed(g('st_acdComputations'))} computations in ${ms(g('st_acdWallMs'))} and bentocache ${fixed(g('st_bentoComputations'))} in ${ms(g('st_bentoWallMs'))} (each dedups within a process only). One \`fn\` takes ${fixed(g('computeMs'))} ms: the rest of coop-cache's wall time is its callers' requests reaching each key's owning process over the bus and the values coming back to ${count(3 * g('stampedeCallers'))} callers, against a \`GET\` and a \`SET\` per key for the peers, which compute in every process. Measured alone with one key and one caller per process (\`replicas: 1\`): the value reached the callers of the other two processes 2.5-6 ms after its \`fn\` had ended. After 50 ms of waiting every thread on its way is asleep, and the way wakes six of them and Redis twice (computer → owner → agent → Redis → agent → owner → caller); on this machine a Redis message between two idle processes took 0.8-0.9 ms one way (p50; 0.28 ms when one was sent every millisecond), and a thread woken by a message a few hundred µs. With 1,000 callers in each process, the values then reach the last of them 12-20 ms after the last \`fn\` ended. It is not the callers' own work: with one caller per key in each process (50, not 1,000) the stampede took as long (65 ms, the median of 16 rounds in a run of its own). In a process that receives a value, its hand-over from the agent to the owner thread and from there to the calling thread took 1-3 ms, of which the owner's own work was 0.04 ms: each thread on the way waits for a core that the three processes' six threads and Redis share when every \`fn\` ends at once (handing each message over at once, rather than at the end of the thread's turn, changed nothing). With \`replicas: 'all'\`, the values go to each process once, as the answers to their requests, with no copy besides (src/peer/agent.ts \`#replicate\`).`,
  )
  // coop-cache's reset() resolves once no live process serves the old version any more (its
  // guarantee): its time to resolve is the aim's figure, and the watched clears check the guarantee.
  const clearOk = (lib: string) => g(`clr_${lib}ResolvedP50`) <= PEER_AIMS.clearP50Ms && g(`clr_${lib}ResolvedP99`) <= PEER_AIMS.clearP99Ms
  const late = g('clr_coop1Late') + g('clr_coopAllLate') + g('clr_coop1NotGone') + g('clr_coopAllNotGone')
  out.push(
    `**Invalidating everything over Redis, until no process serves the old value: p50 ≤ ${fixed(PEER_AIMS.clearP50Ms, 1)} ms, p99 ≤ ${fixed(PEER_AIMS.clearP99Ms, 1)} ms** (at ${count(g('entries'))} entries; for coop-cache, \`reset()\` resolving in A, after which no live process serves the old version): ` +
      ['coop1', 'coopAll']
        .map((lib) => `${lib === 'coop1' ? '\`replicas: 1\`' : "\`replicas: 'all'\`"} ${ms(g(`clr_${lib}ResolvedP50`))} / ${ms(g(`clr_${lib}ResolvedP99`))} (${verdict(clearOk(lib), g(`clr_${lib}ResolvedP50`))})`)
        .join('; ') +
      `. ${late === 0 ? `In every watched clear, no look in B or C begun after \`reset()\` had resolved found the old value.` : `**In ${fixed(late)} watched clear(s), a look in B or C begun after \`reset()\` had resolved in A still found the old value (or found it after ${fixed(g('watchSeconds'))} s)**: that goes against what \`reset()\` promises (section 8 has the counts per configuration).`} Beside them, from A's call until no process served the old value (watched clears): coop-cache ${ms(g('clr_coop1EverywhereP50'))} (\`replicas: 1\`) and ${ms(g('clr_coopAllEverywhereP50'))} (\`replicas: 'all'\`) at p50, the watchers' own load on the cores included, bentocache \`clear()\` ${ms(g('clr_bentoEverywhereP50'))}${g('clr_bentoNotGone') > 0 ? ` (and ${fixed(g('clr_bentoNotGone'))} of ${fixed(g('clr_bentoWatched'))} watched clears where a process still served the old value after ${fixed(g('watchSeconds'))} s)` : ''}, async-cache-dedupe \`clear(name)\` ${ms(g('clr_acdEverywhereP50'))}. \`reset()\` resolves once every live peer has acknowledged the new version over the bus: a pub/sub round trip to both other processes, each message handled by the process's agent; scenario 7 measures the same from \`reset()\` to \`onReset\`, per bus. That round trip has a floor of its own, measured between the clears: a ping A broadcast on the Redis bus, answered by B and C, took ${ms(g('clr_floorP50'))} / ${ms(g('clr_floorP99'))} (p50 / p99) with the processes idle before it, as they are before a clear; \`reset()\` resolved in ${ratio(g('clr_coop1ResolvedP50') / g('clr_floorP50'))} (\`replicas: 1\`) and ${ratio(g('clr_coopAllResolvedP50') / g('clr_floorP50'))} (\`replicas: 'all'\`) of it at p50.${g('clr_floorP50') > PEER_AIMS.clearP50Ms ? ` The floor alone is above the aim's ${fixed(PEER_AIMS.clearP50Ms, 1)} ms here: no reset that waits to hear from every peer can meet it on this machine.` : ''}`,
  )
  return out
}

function local(f: F): string[] {
  const g = (k: string) => f[k] as number
  const out: string[] = []
  const rssOk = g('rss_idRatio') <= PEER_AIMS.rssVsLru && g('rss_kbRatio') <= PEER_AIMS.rssVsLru
  out.push(
    `**RSS per entry ≤ ${ratio(PEER_AIMS.rssVsLru)} lru-cache's**: ${count(g('rssIds'))} × \`{ id }\` ${ratio(g('rss_idRatio'))} (${fixed(g('rss_coop_idPerEntry'))} B against ${fixed(g('rss_lru_idPerEntry'))} B), ${count(g('rssStrings'))} × 1 KB string ${ratio(g('rss_kbRatio'))} (${bytes(Math.round(g('rss_coop_kbPerEntry')))} against ${bytes(Math.round(g('rss_lru_kbPerEntry')))}): ${rssOk ? 'met' : '**missed**'}. An owner keeps each entry (src/owner/store.ts) as a record of four slots — the value itself for values up to 16 KiB serialized (as its computer sent it, or deserialized once; the bytes for larger ones), its size, a few bits, and its lifetime only if it expires — under the key's canonical encoding, in a map of its own (an lru-cache with \`policy: 'evict'\`); lru-cache here keeps the value alone under the key. That record and the encoded key are what a tiny entry costs beyond lru-cache's (not measured apart here); for 1 KB strings the strings themselves weigh most on both sides. Per entry here includes the empty cache: for coop-cache an owner thread, with a V8 heap of its own (${bytes(Math.round(g('rss_coop_kbEmpty')))} of RSS here, ${fixed(g('rss_coop_kbEmpty') / g('rssStrings'))} B an entry at ${count(g('rssStrings'))}); without it, ${fixed(g('rss_coop_kbBeyond'))} B against ${fixed(g('rss_lru_kbBeyond'))} B for 1 KB strings (${ratio(g('rss_coop_kbBeyond') / g('rss_lru_kbBeyond'))}), ${fixed(g('rss_coop_idBeyond'))} B against ${fixed(g('rss_lru_idBeyond'))} B for \`{ id }\`.`,
  )
  out.push(
    `**Fill at least ${ratio(PEER_AIMS.fillVsLru)} lru-cache's rate** (${count(g('rssIds'))} distinct keys): ${ratio(g('fillRatio'))} (${verdict(g('fillRatio') >= PEER_AIMS.fillVsLru, g('fillRatio'))}; ${rate(g('fillCoopRate'))} against ${rate(g('fillLruRate'))}; the median of smaller fills, ${ratio(g('fillSmallRatio'))}). Each miss through \`cached()\` is a request to the owner thread, the value computed in the calling thread and sent back to the owner (small plain data as itself, in one structured clone; anything else serialized) — two messages per entry, where lru-cache's \`fetch()\` stays in the thread.`,
  )
  out.push(
    `**A stampede in one process, wall time ≤ ${ratio(PEER_AIMS.localVsLru)} lru-cache's** (${count(g('localCallers'))} callers, ${fixed(g('localKeys'))} cold keys, \`fn\` ${fixed(g('localComputeMs'))} ms): ${ratio(g('localRatio'))} (${verdict(g('localRatio') <= PEER_AIMS.localVsLru, g('localRatio'))}; ${ms(g('localCoopWallMs'))} against ${ms(g('localLruWallMs'))}; ${fixed(g('localCoopComputations'))} and ${fixed(g('localLruComputations'))} computations). The callers are started in one synchronous loop. lru-cache runs each key's \`fn\` inside that loop, as the key's first call is made; coop-cache must first ask each key's owner thread: its requests leave once the loop has ended, and its \`fn\`s start a round trip later (in runs of this stampede alone, a fresh cache each, made 0.3 s before: in the first four stampedes of a process the loop took 3-7 ms and the first \`fn\` started 4-17 ms after the first call, the requests reaching the owners several ms after the loop had ended; from then on the loop took 0.5 ms and the first \`fn\` started 1-3 ms after the first call; lru-cache's loop took 0.8-9 ms, then under 1 ms). The run's figure is the median of its rounds, the first of them such early ones. The 50 \`fn\`s, started within 0.3 ms, then ended over 1-5 ms, against about 1 ms for lru-cache's: each end posts a put to the owner and resolves its 20 calls, and on 2 cores the main thread shares them with the owner threads it wakes. The owner threads are warm (each rehearses its request path before the cache is ready).`,
  )
  return out
}

/** What scenario 8's figures say of its aims; written into its own section too. */
export function peers(f: F, cross?: F): string[] {
  return [...across(f, cross), ...local(f)]
}

/**
 * What the three thread round trips of a remote hit cost at least, against what the aim leaves
 * beyond the bus floor: whether the aim is within reach of any path with this layout.
 */
function outOfReach(floorP50: number, bareP50: number | undefined): string {
  if (bareP50 === undefined || !Number.isFinite(bareP50) || !Number.isFinite(floorP50)) return ''
  const room = (PEER_AIMS.firstVsFloor - 1) * floorP50
  const hops = 3 * bareP50
  if (hops <= room) return ''
  return ` Those three crossings alone, each about a bare \`postMessage\` round trip (scenario 3, main thread: ${ns(bareP50)} p50), come to about ${ns(hops)}, where the aim leaves ${ns(room)} beyond the floor: as long as the agent lives in the thread that created the cache and the owners on worker threads (the layout the design sets), this aim is out of reach on this machine, whatever the rest of the path costs.`
}
