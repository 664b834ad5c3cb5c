// The peer agent: this process's member of the cluster. It lives in the thread that created the
// cache, holds the bus, and does five things:
//
//   membership  every peer beats every heartbeat (its reset stamp, version, counters, and its
//               own heartbeat and peer timeout); the members are those heard within their peer
//               timeout (members.ts), and every owner thread is told the view, from which it
//               hashes each key to its owning process
//   liveness    it writes in shared memory until when this process may serve what it stored:
//               when it sent the last of its own messages it has heard back, plus the peer
//               timeout (memory/liveness.ts). Every peer that heard that message counts this
//               process in until at least as late; what else it hears proves nothing of the
//               kind (a message read late, from a socket the thread could not get to, was sent
//               long before). A process that has heard nothing, or nothing of its own, for that
//               long (cut off, or its creating thread blocked, or stopped) drops what it stored,
//               and serves nothing stored until it hears the bus again and has caught up (said
//               hello, and heard the beats that answer it, for two heartbeats)
//   resets      this process's resets are announced; a peer's, from its announcement or from any
//               beat that carries a later stamp, are taken if they come after this process's
//               (memory/epoch.ts: Lamport order). A reset has taken effect in the cluster when
//               every live peer has beaten or acknowledged its stamp or a later one, or after
//               the longest peer timeout and heartbeat heard, by when a peer that did not hear
//               it stopped serving
//   requests    between this process's owners and the others' (asks.ts out, relays.ts in)
//   replicas    a value an owner of this process stores for a key it owns goes as a copy to
//               the processes that keep the key's replicas; a copy from a peer goes to the key's
//               owner thread here; a peer that joins is sent copies of what this process owns
//   the wire    every message sealed (seal.ts) and read once (wire.ts), each sender's messages
//               taken once (replay.ts); what is refused is counted, and nothing a message holds
//               can make the agent throw into the bus's client. The messages to each peer (and
//               to all) made in one turn of the event loop go in one envelope; one too large
//               for the bus goes in chunks, at the pace of the slowest reader (chunks.ts)
import type { MessagePort } from 'node:worker_threads'
import { hostname } from 'node:os'
import { serialize } from 'node:v8'
import type { Bus, BusMember } from '../bus/bus.js'
import type { OwnerEvents } from '../host/supervisor.js'
import type { Resets, VersionChange } from '../host/resets.js'
import type { AgentToOwner, AnswerMessage as OwnerAnswer, HandedEntry, KeyChange, Owned, OwnerToAgent, PongMessage, RequesterMessage, UpStoredMessage } from '../shared/protocol.js'
import { CacheClosedError, ChangeNotConfirmedError } from '../shared/errors.js'
import { ownerOf as ownerIndexOf, prefixStart, showKey } from '../shared/key.js'
import { lifeLeft } from '../shared/lifetime.js'
import { monotonic } from '../shared/clock.js'
import { keepersOf, peerOf } from '../shared/ring.js'
import { CLOCK_JUMP, compareStamps, type EpochWriter, type Stamp } from '../shared/memory/epoch.js'
import { Counter, PEER_MAX } from '../shared/memory/layout.js'
import type { Shared } from '../shared/memory/shared.js'
import { localCounters } from '../shared/stats.js'
import { Asks } from './asks.js'
import { Chunks, Sending, cut } from './chunks.js'
import type { AgentIO } from './io.js'
import { Members, type Timing } from './members.js'
import { Relays } from './relays.js'
import { Replays } from './replay.js'
import { Seal } from './seal.js'
import { Outbox, each } from '../shared/outbox.js'
import { announce, events } from '../events/channels.js'
import { BATCH_MAX, CHUNKS_MAX, decodeAll, type Chunk, type Give, type Outgoing, type PeerMessage, type Reader, type Replica } from './wire.js'

export interface AgentOptions {
  readonly name: string
  readonly bus: Bus
  readonly shared: Shared<EpochWriter>
  readonly resets: Resets
  readonly memoryLimit: number
  readonly heartbeat: number
  readonly peerTimeout: number
  readonly secrets: readonly Uint8Array[]
  /** Carries out a change of keys in this process's owners, a set being of `epoch`; resolves when they have. */
  readonly apply: (change: KeyChange, epoch: number) => Promise<void>
  /** How many processes keep each value (Infinity: all). */
  readonly replicas: number
  /**
   * Hands `each` every entry this process's owners hold of `epoch` of the keys `owned` selects,
   * as bytes, a part at a time; resolves with the keys of their flights open then.
   */
  readonly entries: (epoch: number, owned: Owned, each: (entries: HandedEntry[]) => Promise<void>) => Promise<string[]>
}

/** A reset of this process waiting for every live peer to take it. */
interface Pending {
  readonly epoch: number
  readonly stamp: Stamp
  readonly until: number
}

/** A broadcast envelope sent: the sequence numbers of its first and last messages, and when it left (monotonic()). */
interface Sent {
  readonly first: number
  readonly last: number
  readonly at: number
}

/** A change of keys this process announced, waiting for every live peer to apply it. */
interface Announced {
  readonly change: KeyChange
  readonly message: Outgoing
  readonly waiting: Set<string>
  readonly until: number
  readonly done: (error?: Error) => void
}

interface OwnerPort {
  readonly port: MessagePort
  readonly outbox: Outbox<RequesterMessage | AgentToOwner>
  readonly incarnation: string
}

/** What an owner thread posts to the agent. */
type FromOwner = OwnerAnswer | OwnerToAgent | PongMessage

let warnedNoSecret = false
/** ms past a heartbeat for a beat to be sent, travel and be heard */
const HOLD_MARGIN = 20
/** A message carrying a value at least this large goes in an envelope of its own: a batch stays small for any broker. */
const ALONE_BYTES = 16 * 1024
/**
 * How many heartbeats a recipient of this process's chunks may say nothing more, once all went,
 * before the first it lacks goes again (chunks.ts Sending#repair): an answer a beat late is not a loss.
 */
const REPAIR_HEARTBEATS = 2
/** What a chunk's message and seal add to its bytes, beside the cache's name and two peer ids (see #sendChunks). */
const CHUNK_HEAD = 256
/** What an envelope of chunks may hold beyond memoryLimit, the largest value it takes: the rest of its messages. */
const CHUNKS_ROOM = 1024 * 1024

/** A message on its way, with its envelope fields (wire.ts Base) filled in. */
type Enveloped = Outgoing & { readonly c: string; readonly f: string; readonly q: number; readonly ts: number; readonly to: string }
/** The fields of an Enveloped that are set as it leaves. */
type Numbered = { q: number; ts: number }

/** Lets the calls and beats of this thread go on, between a few hundred messages of a long run of them. */
const aTurn = () => new Promise((resolve) => setImmediate(resolve))

export class Agent implements AgentIO, OwnerEvents {
  readonly #options: AgentOptions
  readonly #shared: Shared<EpochWriter>
  readonly #self: string
  readonly #reader: Reader
  readonly #seal: Seal
  readonly #replays: Replays
  readonly #members: Members
  readonly #owners: (OwnerPort | undefined)[]
  readonly #relays: Relays
  readonly #asks: Asks
  readonly #pending: Pending[] = []
  #member: BusMember | undefined
  #timer: NodeJS.Timeout | undefined
  #heard = 0
  /** when (monotonic()) this process sent the last of its own messages it heard back, 0 before any (see #heardAt) */
  #echoed = 0
  /** a check that its own messages came back is due at the end of this turn (see #echoLate) */
  #echoCheck = false
  /** The broadcasts this process sent in the last peerTimeout, oldest first (see #sentAt). */
  readonly #sent: Sent[] = []
  #mode: 'joining' | 'live' | 'cut-off' | 'catching-up' = 'joining'
  #catchUntil = 0
  /** the epoch in which this process joined a running cluster (see ViewMessage), 0 if it did not */
  #joined = 0
  /**
   * The members it found then (see ViewMessage.earlier): not those it heard say hello meanwhile,
   * which joined after this process and hold nothing stored before it.
   */
  #earlier: ReadonlySet<string> = new Set()
  /** the peers heard say hello while this process joins */
  readonly #helloWhileJoining = new Set<string>()
  #sequence = 0
  #epochSeen = 0
  /** Until when no reset is taken for done by the live peers alone (see #tick). */
  #holdUntil = 0
  /** When this process last counted a peer out for its silence (see #viewConfirms). */
  #countedOutAt = 0
  /** Parts sent and not yet taken, by their number: the peer each went to, and who waits for its taken (see #sentPart). */
  readonly #parts = new Map<number, { readonly peer: string; readonly done: () => void }>()
  #partSequence = 0
  /** Peers a give from which was not kept since their last gave: they have not handed everything over. */
  readonly #refusedFrom = new Set<string>()
  /** Peers that joined after this process, and when to hand them the values of their keys held here (see #welcome). */
  readonly #welcomes = new Map<string, number>()
  /** Peers that have handed this process every value of its keys they held (see ViewMessage). */
  readonly #handed = new Set<string>()
  /** Pings to owner threads awaiting their pong: by id, the owner's index and what to call. */
  readonly #pongs = new Map<number, { readonly index: number; readonly done: () => void }>()
  #pingId = 0
  readonly #announced = new Map<number, Announced>()
  /** The peers this process saw live when it was last cut off: a change it makes before it is live again waits on them (see #announce). */
  #unseen: readonly string[] = []
  #changeId = 0
  /** Peers' changes carried out here (or under way), by sender and number, with when: a repeat is answered, not carried out again. */
  readonly #applied = new Map<string, { readonly at: number; readonly done: Promise<void> }>()
  /** When a change of each key (and of each prefix) was last begun here: a copy from a peer is not kept for a while after (see #replica). */
  readonly #changedKeys = new Map<string, number>()
  readonly #changedPrefixes = new Map<string, number>()
  #closed = false
  #warnedThrow = false
  #warnedTiming = false
  #warnedSplit = false
  /** Messages made this turn, by recipient ('' for all), sent at its end (see #flush). */
  readonly #outbox = new Map<string, Enveloped[]>()
  #flushing = false
  /** a flush is queued as a microtask (see #flushFirst) */
  #soon = false
  /** Envelopes from peers under way in chunks (see chunks.ts); this process's, by group, and the number of its last. */
  readonly #chunks: Chunks
  readonly #sending = new Map<number, Sending>()
  #chunkGroup = 0

  constructor(options: AgentOptions) {
    this.#options = options
    this.#shared = options.shared
    this.#self = options.shared.memory.self
    this.#reader = { name: options.name, self: this.#self, memoryLimit: options.memoryLimit }
    this.#seal = new Seal(options.name, options.secrets)
    this.#replays = new Replays(Math.max(30_000, 4 * options.peerTimeout), this.#seal.signed)
    this.#members = new Members(this.#self, { heartbeat: options.heartbeat, peerTimeout: options.peerTimeout })
    this.#owners = Array.from({ length: options.shared.owners.count }, () => undefined)
    this.#relays = new Relays(this, options.shared.owners.count, this.#members)
    this.#asks = new Asks(this, options.peerTimeout)
    this.#chunks = new Chunks(options.memoryLimit + CHUNKS_ROOM, options.peerTimeout)
    this.#epochSeen = options.shared.epochs.epoch()
    options.resets.onChange = (change) => this.#changed(change)
  }

  // ---- owners (OwnerEvents, called by the supervisor) ----

  started(index: number, incarnation: string, port: MessagePort): void {
    const previous = this.#owners[index]
    if (previous !== undefined) this.ended(index, previous.incarnation, false)
    this.#owners[index] = { port, outbox: new Outbox(port), incarnation }
    port.on('message', (received: FromOwner | FromOwner[]) => each(received, (message) => this.#fromOwner(index, incarnation, message)))
    port.on('close', () => this.ended(index, incarnation, false))
    port.unref()
    this.#post(index, this.#view())
    this.#relays.ownerStarted(index)
  }

  ended(index: number, incarnation: string, gaveUp: boolean): void {
    const current = this.#owners[index]
    if (current?.incarnation === incarnation) this.#owners[index] = undefined
    else if (!gaveUp) return
    for (const [id, pong] of this.#pongs) {
      if (pong.index !== index) continue
      this.#pongs.delete(id)
      pong.done()
    }
    this.#asks.ownerEnded(index, incarnation)
    this.#relays.ownerEnded(index, gaveUp)
  }

  #fromOwner(index: number, incarnation: string, message: FromOwner): void {
    if (this.#owners[index]?.incarnation !== incarnation) return
    switch (message.type) {
      case 'pong':
        this.#pongs.get(message.id)?.done()
        this.#pongs.delete(message.id)
        return
      case 'up-get':
      case 'up-put':
      case 'up-fail':
      case 'up-drop':
        return this.#asks.fromOwner(index, incarnation, message)
      case 'up-stored':
        return this.#replicate(message)
      default:
        return this.#relays.answer(index, message)
    }
  }

  // ---- joining and leaving ----

  /** Joins the bus and waits two heartbeats to hear the members, and take the cluster's version. */
  async join(): Promise<void> {
    const { bus, name, heartbeat } = this.#options
    if (bus.networked === true && !this.#seal.signed && !warnedNoSecret) {
      warnedNoSecret = true
      process.emitWarning(`coop-cache: cache ${JSON.stringify(name)} is on a bus that others may publish to, without a secret: anyone who can publish there can reset it or answer for it. Give createCache a secret`, { code: 'COOP_CACHE_NO_SECRET' })
    }
    this.#member = await bus.join(name, this.#self, (bytes) => this.#receive(bytes))
    this.#hello()
    this.#timer = setInterval(() => this.#tick(), heartbeat)
    this.#timer.unref()
    await new Promise((resolve) => setTimeout(resolve, 2 * heartbeat))
    if (this.#members.others().length > 0) {
      this.#joined = this.#shared.epochs.epoch()
      this.#earlier = new Set(this.#members.others().filter((peer) => !this.#helloWhileJoining.has(peer)))
      this.#membersChanged()
      // Callers reach the owners on ports of their own, which the view does not go before: the
      // first calls, made once createCache resolves, came before it, and their keys were computed
      // here without asking the peer that held them.
      await this.#flushOwners()
    }
    this.#helloWhileJoining.clear()
    this.#goLive()
    this.#beat()
  }

  // ---- replicas ----

  /** The peers that keep copies of `key` besides this process: 'all' of them, or those that rank first for it. */
  #replicasOf(key: string, members: readonly string[]): readonly string[] | 'all' {
    const keepers = keepersOf(key, members, this.#options.replicas)
    return keepers === 'all' ? 'all' : keepers.filter((member) => member !== this.#self)
  }

  /**
   * An owner here stored a value of a key it owns: copies go to the peers that keep them, but
   * for those whose requests the value answers (`answered`, on the owner's link here), which
   * keep the answer as their copy. A value that a stampede waited for everywhere then crosses
   * the bus once to each process, not twice (three processes on Redis, 50 cold keys: a copy
   * besides each answer made the stampede take 77-89 ms, against 70-71 ms with `replicas: 1`; without, 69-75 ms).
   * With most keepers left, one broadcast; with few, one message to each.
   */
  #replicate({ key, epoch, value, expires, staleUntil, answered }: UpStoredMessage): void {
    if (this.#mode !== 'live' || epoch !== this.epoch()) return
    const keepers = this.#replicasOf(key, this.#members.view())
    const served = this.#relays.peersAnswered(answered, key)
    const all = keepers === 'all' ? this.#members.others() : keepers
    const to = served.size === 0 ? all : all.filter((peer) => !served.has(peer))
    if (to.length === 0) return
    const { ttl: tl, grace: gr } = lifeLeft({ expires, staleUntil }, monotonic())
    const message: Outgoing = { t: 'rep', s: this.stamp(), k: key, v: value, tl, gr }
    if (keepers === 'all' && to.length > served.size) this.#broadcast(message)
    else for (const peer of to) this.send(peer, message)
  }

  /**
   * A peer's copy of a value: kept by the key's owner thread here, if it is of this process's
   * reset, and the key has not been changed here lately. A copy travels outside any request, so
   * nothing else fences it: one sent before an invalidation (or a set) that its sender had not
   * yet carried out may arrive after the change has been carried out here, even after both its
   * rounds. So a copy is not kept if it was sent more than the quiet time ago (by its sender's
   * clock), or if the key (or a prefix of it) was changed here within the quiet time; and the
   * key's fence, read now, makes its owner thread refuse it if a change is carried out there
   * before the copy is stored. The quiet time is that of a reset's (peerTimeout + heartbeat):
   * a message later than that finds its receiver cut off, its values dropped.
   */
  #replica(message: Replica): void {
    if (this.#options.replicas <= 1 || this.#mode !== 'live' || compareStamps(message.s, this.stamp()) !== 0) return
    this.#outsideRequests('replica', message)
  }

  /**
   * A copy, or a value a peer hands over (leaving, or welcoming this process): either travels
   * outside any request, so it goes to its key's owner thread on the terms of #replica.
   */
  #outsideRequests(type: 'replica' | 'give', message: Replica | Give): boolean {
    const { k: key } = message
    // Its sender's clock against this one's: the only time there is to compare the two by.
    if (Date.now() - message.ts > this.#quiet() || this.#changedLately(key, monotonic())) return false
    const { fences } = this.#shared
    const life = { ttl: message.tl, grace: message.gr }
    this.#post(ownerIndexOf(key, this.#owners.length), { type, key, epoch: this.epoch(), fence: fences.read(fences.slotOf(key)), value: message.v, buffers: message.buffers, life })
    return true
  }

  /**
   * Sends each entry of a part that `toward` makes a message of, to the peer it names, a few
   * hundred at a time (the calls and beats of this thread go on meanwhile), then waits for each
   * of those peers to take them (see #sentPart); stops as soon as `going` says no more.
   */
  async #sendPart(part: readonly HandedEntry[], toward: (entry: HandedEntry) => { readonly peer: string; readonly message: Outgoing } | undefined, going: () => boolean): Promise<Set<string>> {
    const sentTo = new Set<string>()
    let sent = 0
    for (const entry of part) {
      if (!going()) return sentTo
      const out = toward(entry)
      if (out === undefined) continue
      this.send(out.peer, out.message)
      sentTo.add(out.peer)
      if (++sent % 256 === 0) await aTurn()
    }
    if (going()) await Promise.all([...sentTo].map((peer) => this.#sentPart(peer, true)))
    return sentTo
  }

  /** Whether what is sent to `to` in `epoch` still goes on: this agent open, the epoch the same, `to` a live peer. */
  #goingTo(to: string, epoch: number): () => boolean {
    return () => !this.#closed && epoch === this.epoch() && this.#members.has(to)
  }

  /**
   * Tells `to` that a part of what this process gives or copies to it has been sent (`more`: not
   * the last), and resolves once it has taken them, or after the peer timeout: so a long run of
   * values waits on its receiver, part after part, rather than pile up on the bus or arrive too
   * late to be kept (see #outsideRequests).
   */
  #sentPart(to: string, more: boolean): Promise<void> {
    // A peer gone (it said bye, or was counted out) takes nothing more: nobody waits for it.
    if (this.#mode !== 'live' || !this.#members.has(to)) return Promise.resolve()
    return new Promise<void>((resolve) => {
      // Numbered, so that the taken of a part that was waited for in vain (the receiver slowed
      // down past the peer timeout) is not taken for the next one's: the sender would then run
      // a part ahead of its receiver for every such part, and values pile up, late.
      const part = ++this.#partSequence
      const done = () => {
        clearTimeout(timer)
        this.#parts.delete(part)
        resolve()
      }
      const timer = setTimeout(done, this.#options.peerTimeout)
      timer.unref()
      this.#parts.set(part, { peer: to, done })
      this.send(to, { t: 'gave', m: more, pt: part })
    })
  }

  /**
   * Peer `to` has joined (or caught up) and asks for copies: this process sends it a copy of
   * each value whose key it owns (without `to`: so each value comes once, from its owner) and
   * that `to` should keep, with what it has left to live.
   */
  async #fill(to: string): Promise<void> {
    if (this.#options.replicas <= 1 || this.#mode !== 'live') return
    const epoch = this.epoch()
    const members = this.#members.view()
    const before = members.filter((member) => member !== to)
    if (!members.includes(to) || before.length === 0) return
    const going = this.#goingTo(to, epoch)
    await this.#options.entries(epoch, { owner: this.#self, members: before }, async (part) => {
      await this.#sendPart(
        part,
        ({ key, value, life }) => {
          const keepers = this.#replicasOf(key, members)
          if (keepers !== 'all' && !keepers.includes(to)) return undefined
          return { peer: to, message: { t: 'rep', s: this.stamp(), k: key, v: value, tl: life.ttl, gr: life.grace } }
        },
        going,
      )
    })
  }

  /** Welcomes the peers whose time has come (see #welcome): one at a time, each once. */
  #welcomeDue(now: number): void {
    if (this.#mode !== 'live') return
    for (const [peer, at] of this.#welcomes) {
      if (now < at) continue
      this.#welcomes.set(peer, Infinity) // under way
      // Unless it left, or asked again meanwhile: then its next welcome stands.
      const ours = () => this.#welcomes.get(peer) === Infinity
      this.#welcome(peer).then(
        (done) => {
          if (!ours()) return
          if (done) this.#welcomes.delete(peer)
          else this.#welcomes.set(peer, monotonic() + this.#options.heartbeat)
        },
        () => ours() && this.#welcomes.delete(peer),
      )
      return
    }
  }

  /**
   * Peer `to` joined a while ago (the quiet time: every live peer has heard of it by now, so none
   * asks this process for a key of `to`'s any more, and the copies a fill sent it have arrived).
   * A process that joins asks the previous owner of each key it misses (see ViewMessage), until
   * the cluster's next reset: that finds the values stored before it joined, and joins their
   * computations under way. So this process hands `to` every value it holds of a key that was its
   * own and is `to`'s now, a value with a time to live with what it has left, then says it has
   * (gave): from then on `to` computes its keys without asking here first. Not while a flight of
   * such a key is open here (one of `to`'s callers may be waiting on it): false, to try again.
   */
  async #welcome(to: string): Promise<boolean> {
    const epoch = this.epoch()
    if (!this.#members.has(to) || this.#mode !== 'live') return !this.#members.has(to)
    const s = this.stamp()
    const going = this.#goingTo(to, epoch)
    // Gives sent before a flight of such a key is found open are sent again next time: the
    // newcomer keeps the first of each.
    const open = await this.#options.entries(epoch, { owner: to, members: this.#members.view(), from: this.#self }, async (part) => {
      await this.#sendPart(part, ({ key, value, life }) => ({ peer: to, message: { t: 'give', s, k: key, v: value, tl: life.ttl, gr: life.grace } }), going)
    })
    // After a reset, `to` asks nobody: nothing to hand over.
    if (!going()) return true
    if (this.#mode !== 'live' || open.length > 0) return false
    await this.#sentPart(to, false)
    return true
  }

  #quiet(): number {
    return this.#options.peerTimeout + this.#options.heartbeat
  }

  /**
   * How long a reset or a change waits for the peers that do not answer: by then one that did
   * not hear it has stopped serving, by its own peer timeout (the longest heard, see members.ts).
   */
  #patience(): number {
    const { peerTimeout, heartbeat } = this.#members.widest()
    return peerTimeout + heartbeat
  }

  /** A change of keys begins here, this process's or a peer's. */
  #changing(change: KeyChange): void {
    const now = monotonic()
    this.#changedKeys.set(change.key, now)
    if (change.type === 'invalidate' && change.prefix) this.#changedPrefixes.set(prefixStart(change.key), now)
  }

  #changedLately(key: string, now: number): boolean {
    const quiet = this.#quiet()
    const at = this.#changedKeys.get(key)
    if (at !== undefined && now - at <= quiet) return true
    for (const [start, at] of this.#changedPrefixes) if (now - at <= quiet && key.startsWith(start)) return true
    return false
  }

  /**
   * Before leaving: gives every entry of a key this process owns to the process that owns it once
   * this one has left (`entries` hands them to `each` a part at a time), and waits (at most the
   * peer timeout) until each has taken them, so that a key with a value keeps it when its owner
   * leaves the cluster without a fault.
   */
  async handOver(entries: (owned: Owned, each: (entries: HandedEntry[]) => Promise<void>) => Promise<unknown>): Promise<void> {
    const others = this.#members.others().sort()
    if (this.#closed || this.#mode !== 'live' || others.length === 0) return
    const s = this.stamp()
    const waiting = new Set<string>()
    // Only the values of keys this process owns: one of a key another process owns is its
    // owner's already (a copy, or fetched from it), and is not even serialized.
    await entries({ owner: this.#self, members: [this.#self, ...others] }, async (part) => {
      // Each part to the peers still here: when a cluster is shut down all at once, a peer that
      // has left since would neither keep a value nor say it took one.
      const here = this.#members.others().sort()
      if (here.length === 0) return
      const given = await this.#sendPart(
        part,
        ({ key, value, life }) => ({ peer: peerOf(key, here), message: { t: 'give', s, k: key, v: value, tl: life.ttl, gr: life.grace } }),
        () => true,
      )
      for (const peer of given) waiting.add(peer)
    })
    await Promise.all([...waiting].map((peer) => this.#sentPart(peer, false)))
  }

  /** Resolves once every owner thread has handled what this agent posted to it so far (or has ended). */
  #flushOwners(): Promise<unknown> {
    return Promise.all(
      this.#owners.map((owner, index) =>
        owner === undefined
          ? undefined
          : new Promise<void>((done) => {
              const id = ++this.#pingId
              this.#pongs.set(id, { index, done })
              this.#post(index, { type: 'ping', id })
            }),
      ),
    )
  }

  // ---- changes of single keys ----

  /**
   * Carries out `change` here and in every live peer, in two rounds: a value fetched from a
   * peer that had not yet carried out the first round (its answer left before) is gone after the
   * second, and answers of requests made before it are refused by their fences. Rejects with
   * ChangeNotConfirmedError if a live peer does not confirm a round within peerTimeout + heartbeat.
   */
  async change(change: KeyChange, epoch: number): Promise<void> {
    for (const again of [false, true]) {
      const round: KeyChange = { ...change, again }
      this.#changing(round)
      await this.#options.apply(round, epoch)
      await this.#announce(round)
    }
  }

  #announce(change: KeyChange): Promise<void> {
    // Not live, this process does not know who serves: it waits on those it saw before it was
    // cut off, and on no peer at all only for the time (see #renewAnnounced).
    const live = this.#mode === 'live'
    const waiting = new Set(live ? this.#members.others() : [...this.#unseen, ...this.#members.others()])
    if (this.#closed || (live && waiting.size === 0)) return Promise.resolve()
    const n = ++this.#changeId
    const { key: k } = change
    const message: Outgoing =
      change.type === 'invalidate'
        ? { t: 'inv', ci: n, k, p: change.prefix, a: change.again }
        : { t: 'set', ci: n, s: this.stamp(), k, v: change.value, tl: change.life.ttl, gr: change.life.grace, a: change.again }
    const patience = this.#patience()
    return new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        this.#announced.delete(n)
        if (error === undefined) resolve()
        else reject(error)
      }
      this.#announced.set(n, { change, message, waiting, until: monotonic() + patience, done })
      this.#broadcast(message)
    })
  }

  /**
   * Sends again each change not yet confirmed by every live peer; settles those that are (as
   * far as the view can tell: see #viewConfirms), or are out of time.
   */
  #renewAnnounced(now: number): void {
    const live = this.#mode === 'live'
    const others = new Set(this.#members.others())
    for (const announced of [...this.#announced.values()]) {
      if (live) for (const peer of announced.waiting) if (!others.has(peer)) announced.waiting.delete(peer)
      if (announced.waiting.size === 0 && this.#viewConfirms(now)) announced.done()
      else if (now > announced.until) announced.done(new ChangeNotConfirmedError(showKey(announced.change.key), [...announced.waiting]))
      else for (const peer of announced.waiting) this.send(peer, announced.message)
    }
  }

  /** A peer's change: carried out once, and confirmed to it (again, for a repeat). */
  #applyFor(from: string, n: number, change: KeyChange): void {
    const name = `${from}\u0000${n}`
    let applied = this.#applied.get(name)
    if (applied === undefined) {
      if (!change.again) announce(this.#options.name, change, false)
      this.#changing(change)
      applied = { at: monotonic(), done: this.#options.apply(change, this.epoch()) }
      this.#applied.set(name, applied)
    }
    void applied.done.then(() => this.send(from, { t: 'applied', ci: n }))
  }

  /** Says goodbye, so the peers take this process's keys at once, and leaves the bus. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const announced of [...this.#announced.values()]) announced.done(new CacheClosedError())
    clearInterval(this.#timer)
    this.#broadcast({ t: 'bye' })
    this.#flush()
    await this.#member?.leave()
  }

  // ---- AgentIO ----

  send(peer: string, message: Outgoing): void {
    this.#enqueue(peer, message)
  }

  post(owner: number, message: RequesterMessage | AgentToOwner): boolean {
    return this.#post(owner, message)
  }

  epoch(): number {
    return this.#shared.epochs.epoch()
  }

  stamp(): Stamp {
    return this.#shared.epochs.record().stamp
  }

  chunked(bytes: number): boolean {
    const max = this.#member?.maxMessage
    return max !== undefined && bytes + CHUNK_HEAD > max
  }

  refused(): void {
    this.#shared.counters.add(Counter.Dropped, 1)
    if (events.dropped.hasSubscribers) events.dropped.publish({ cache: this.#options.name })
  }

  #post(owner: number, message: RequesterMessage | AgentToOwner): boolean {
    const outbox = this.#owners[owner]?.outbox
    outbox?.post(message)
    return outbox !== undefined
  }

  // ---- the bus ----

  /**
   * Queues a message for `to` ('' for every peer). The messages of one turn of the event loop
   * go out together at its end, one envelope per recipient: the requests, answers and renewals
   * of a busy turn cost the bus one message each way, not one per request. A message with a
   * large value goes alone, after those queued before it.
   */
  #enqueue(to: string, message: Outgoing): void {
    if (this.#member === undefined) return
    // Numbered and timed as it leaves (#flushTo), not now: a turn that sends thousands of
    // messages to one peer, a batch at a time, would otherwise number the messages queued for
    // the others before all of them, and with a secret their receivers refused those (beats
    // among them) as replays, more than replay.ts's window behind.
    // Copied, as one message may go to several peers; by Object.assign, as on Node 20 a spread
    // with fields added took 8 µs a message (0.5 µs so), the largest cost of sending.
    const enveloped = Object.assign({}, message) as Outgoing & { c: string; f: string; q: number; ts: number; to: string }
    enveloped.c = this.#options.name
    enveloped.f = this.#self
    enveloped.q = 0
    enveloped.ts = 0
    enveloped.to = to
    let queued = this.#outbox.get(to)
    if (queued === undefined) this.#outbox.set(to, (queued = []))
    queued.push(enveloped)
    const alone = 'v' in message && message.v instanceof Uint8Array && message.v.byteLength >= ALONE_BYTES
    if (alone || queued.length >= BATCH_MAX) this.#flushTo(to, queued)
    else if (!this.#flushing) {
      this.#flushing = true
      setImmediate(() => this.#flush())
    }
  }

  /**
   * For a reset and its acknowledgement, which their sender waits for: sends what is queued now,
   * the first time in an event, and what is queued after it once the event's code has run, not at
   * the end of the turn. Now: ahead of the microtask in which Resets wakes the owner threads (a
   * cross-thread wake-up took 40-60 µs here), and of what the rest of reset() sets up (a wait on
   * shared memory: sent after it, a reset left 0.1 ms later). Not each at once: the resets of one
   * event, or the acks of one envelope, still leave together (a loop of 200 resets: 2 messages,
   * where a flush per reset sent 200).
   */
  #flushFirst(): void {
    if (this.#soon) return
    this.#flush()
    this.#soon = true
    queueMicrotask(() => {
      this.#soon = false
      this.#flush()
    })
  }

  #flush(): void {
    this.#flushing = false
    for (const [to, queued] of this.#outbox) this.#flushTo(to, queued)
  }

  #flushTo(to: string, queued: Enveloped[]): void {
    this.#outbox.delete(to)
    if (queued.length === 0 || this.#member === undefined) return
    const ts = Date.now()
    for (const message of queued as Numbered[]) {
      message.q = ++this.#sequence
      message.ts = ts
    }
    const envelope = this.#seal.seal(serialize(queued.length === 1 ? queued[0] : queued))
    const max = this.#member.maxMessage
    // Recorded before it leaves: a bus may hand it back to this process before broadcast returns.
    if (to === '') this.#sent.push({ first: (queued[0] as Enveloped).q, last: (queued[queued.length - 1] as Enveloped).q, at: monotonic() })
    if (max !== undefined && envelope.byteLength > max) this.#sendChunks(to, envelope, max)
    else if (to === '') this.#member.broadcast(envelope)
    else this.#member.send(to, envelope)
  }

  /**
   * An envelope larger than the bus takes, to `to` ('' for all), in chunks (chunks.ts): each a
   * message of its own, sealed and numbered as it leaves, that fits, no more than a window ahead
   * of the slowest recipient. This process does not put its own broadcast chunks together (its
   * beats tell it that it hears the bus), but waits on its own subscription as on a recipient.
   */
  #sendChunks(to: string, envelope: Uint8Array, max: number): void {
    const member = this.#member as BusMember
    const head = CHUNK_HEAD + 2 * Buffer.byteLength(this.#options.name) + 4 * PEER_MAX
    const size = Math.max(1, max - head)
    const chunks = cut(envelope, size)
    if (chunks.length > CHUNKS_MAX) return
    const g = ++this.#chunkGroup
    const of = chunks.length
    // Sent again, a chunk goes to the one recipient that lacks it.
    const send = (x: number, peer = to) => {
      const chunk: Enveloped = { t: 'chunk', g, x, of, b: chunks[x] as Uint8Array, c: this.#options.name, f: this.#self, q: ++this.#sequence, ts: Date.now(), to: peer }
      const sealed = this.#seal.seal(serialize(chunk))
      if (peer === '') member.broadcast(sealed)
      else member.send(peer, sealed)
    }
    const sending = new Sending(of, size, to === '' ? [this.#self, ...this.#members.others()] : [to], monotonic(), send)
    if (!sending.done) this.#sending.set(g, sending)
  }

  /** `peer` holds `got` chunks of this process's group `g`, and lacks chunk `next`: more may go. */
  #chunksHeld(g: number, peer: string, got: number, next: number, now: number): void {
    const sending = this.#sending.get(g)
    sending?.acked(peer, got, next, now)
    if (sending?.done === true) this.#sending.delete(g)
  }

  #broadcast(message: Outgoing): void {
    this.#enqueue('', message)
  }

  #beat(to?: string): void {
    const { stamp, bytes } = this.#shared.epochs.record()
    const { heartbeat: hb, peerTimeout: pto } = this.#options
    const beat: Outgoing = { t: 'beat', s: stamp, v: bytes, n: localCounters(this.#shared, this.#options.memoryLimit), host: hostname(), pid: process.pid, hb, pto }
    if (to === undefined) this.#broadcast(beat)
    else this.send(to, beat)
  }

  #hello(to = ''): void {
    const { heartbeat: hb, peerTimeout: pto } = this.#options
    this.#enqueue(to, { t: 'hello', hb, pto })
  }

  /**
   * A peer that joined beats or times out otherwise than this process: the cluster still keeps
   * its bound (see members.ts), at the cost of slower resets, unless the peer's is past what is
   * honoured. Said once, for whoever runs the cluster.
   */
  #compareTiming(peer: string, { heartbeat, peerTimeout }: Timing): void {
    const own = this.#options
    if (this.#warnedTiming || (heartbeat === own.heartbeat && peerTimeout === own.peerTimeout)) return
    this.#warnedTiming = true
    const bound = Members.bound(own)
    const past = peerTimeout > bound ? ` (past ${bound} ms, which this process does not wait for: a reset made here may resolve while that peer still serves older values)` : ''
    process.emitWarning(
      `coop-cache: cache ${JSON.stringify(own.name)} has a peer (${peer}) with heartbeat ${heartbeat} ms and peerTimeout ${peerTimeout} ms, where this process has ${own.heartbeat} and ${own.peerTimeout}${past}. Resets and changes wait for the longest; give every process of the cluster the same`,
      { code: 'COOP_CACHE_PEER_TIMING' },
    )
  }

  // Called by the bus's client: whatever a message holds, nothing may be thrown back into it.
  #receive(bytes: Uint8Array): void {
    try {
      this.#hear(bytes)
    } catch (error) {
      this.refused()
      if (this.#warnedThrow) return
      this.#warnedThrow = true
      process.emitWarning(`coop-cache: cache ${JSON.stringify(this.#options.name)} refused a bus message that made it fail: ${String((error as Error)?.stack ?? error)}`, { code: 'COOP_CACHE_BUS_MESSAGE_FAILED' })
    }
  }

  /** Takes an envelope in: from the bus, or `whole` again from its chunks (which hold no chunks). */
  #hear(bytes: Uint8Array, whole = false): void {
    if (this.#closed || !(bytes instanceof Uint8Array)) return
    const payload = this.#seal.open(bytes)
    if (typeof payload === 'string' && !this.#warnedSplit) this.#splitFrom(bytes)
    const decoded = typeof payload === 'string' ? payload : decodeAll(payload, this.#reader)
    if (typeof decoded === 'string') return this.refused()
    for (const _ of decoded.refused) this.refused()
    for (const message of decoded.messages) {
      if (whole && message.t === 'chunk') this.refused()
      else this.#hearOne(message, whole)
    }
  }

  /** A chunk of a peer's envelope, answered with how many of its group are here: once it is whole, it is heard as if it had come so. */
  #chunk(from: string, { g, x, of, b }: Chunk, now: number): void {
    const taken = this.#chunks.take(from, g, x, of, b, now)
    // Refused, the group is said to be all here: its sender waits no more for this process.
    if (typeof taken === 'string') {
      this.send(from, { t: 'chunked', g, got: of, nx: of })
      return this.refused()
    }
    this.send(from, { t: 'chunked', g, got: taken.got, nx: taken.next })
    // A chunk sent again after its group was over (its answer lost) says nothing of what comes.
    if (taken.got === of && taken.whole === undefined) return
    this.#asks.hearing(from, now)
    this.#relays.hearing(from, now)
    if (taken.whole !== undefined) this.#hear(taken.whole, true)
  }

  /**
   * A refused envelope that looks like a peer's of this cache (see Seal#foreign): a process of
   * another build or another secret, which this one and its peers cannot hear, nor it them, so a
   * reset on either side does not reach the other. Refused all the same (it may be forged), and
   * said once, for whoever runs the cluster.
   */
  #splitFrom(bytes: Uint8Array): void {
    const why = this.#seal.foreign(bytes, this.#options.name)
    if (why === undefined) return
    this.#warnedSplit = true
    process.emitWarning(
      `coop-cache: cache ${JSON.stringify(this.#options.name)} hears messages of its own cache that it refuses: ${why}. If they come from a process of this cluster, the cluster is split: the two sides do not hear each other, and a reset on one side does not reach the other. Give every process the same secret (rotate keys as the README says) and the same coop-cache wire version (upgrade together, or use another cache name)`,
      { code: 'COOP_CACHE_SPLIT' },
    )
  }

  /**
   * One message, taken once (replay.ts): unless it came in an envelope made `whole` of chunks,
   * each of which was taken once. Such a message was numbered before its chunks, and a busy
   * sender may number more messages than the window spans while they go (a 24 MiB value was
   * refused so, and sent again and again, while its sender answered 6,000 requests).
   */
  #hearOne(message: PeerMessage, whole = false): void {
    if (this.#closed) return
    if (!whole && !this.#replays.accept(message.f, message.q, message.ts, Date.now())) return this.refused()
    const now = monotonic()
    // One of this process's own: when it was sent is what this process recorded then, not its
    // ts, which is on the wall clock (and on a bus without a secret, a forged one may say anything).
    // Not a chunk: the envelope recorded is the one the chunks make, and its messages say so.
    this.#heardAt(now, message.f === this.#self && message.t !== 'chunk' ? this.#sentAt(message.q) : undefined)
    const from = message.f
    if (from === this.#self) {
      // Its own subscription has read this chunk, and those before it.
      if (message.t === 'chunk') this.#chunksHeld(message.g, from, message.x + 1, message.x + 1, now)
      return
    }
    if (message.t === 'bye') {
      if (this.#members.leave(from)) this.#left([from])
      return
    }
    const timing = message.t === 'beat' || message.t === 'hello' ? { heartbeat: message.hb, peerTimeout: message.pto } : undefined
    if (this.#members.heard(from, now, timing)) {
      if (events.peerJoin.hasSubscribers) events.peerJoin.publish({ cache: this.#options.name, peer: from })
      if (timing !== undefined) this.#compareTiming(from, timing)
      this.#welcomes.set(from, now + this.#quiet())
      this.#membersChanged()
    }
    switch (message.t) {
      case 'beat':
        this.#members.count(from, message.n)
        this.#publishPeers()
        this.#take(message.s, message.v)
        return this.#tookBy(from, message.s)
      case 'hello':
        // A peer joins, catches up, or asks to be handed its keys' values again (see #left).
        if (this.#mode === 'joining') this.#helloWhileJoining.add(from)
        this.#welcomes.set(from, now + this.#quiet())
        return this.#beat(from)
      case 'reset':
        this.#take(message.s, message.v)
        this.#tookBy(from, message.s)
        this.send(from, { t: 'ack', s: this.stamp() })
        // Now, ahead of the owners' wake-up that taking the reset queued: the reset resolves in
        // its sender when every live peer has acknowledged it.
        return this.#flushFirst()
      case 'ack':
        return this.#tookBy(from, message.s)
      case 'gave':
        // Taken means stored: the gives went to the owner threads before this, on the ports a
        // ping now follows them on. Until then a call here could miss a key just handed over.
        return void this.#flushOwners().then(() => {
          if (this.#closed) return
          this.send(from, { t: 'taken', pt: message.pt })
          if (message.m) return
          // The sender holds nothing of this process's keys now: the owners stop asking it.
          // Unless a give of its was not kept (too late, or its key changed here lately): then
          // they go on asking it, and it is asked to hand over again.
          if (this.#refusedFrom.delete(from)) return this.#hello(from)
          if (this.#members.has(from) && !this.#handed.has(from)) {
            this.#handed.add(from)
            this.#membersChanged()
          }
        })
      case 'taken': {
        const part = this.#parts.get(message.pt)
        return part?.peer === from ? part.done() : undefined
      }
      case 'inv':
        return this.#applyFor(from, message.ci, { type: 'invalidate', key: message.k, prefix: message.p, again: message.a })
      case 'set': {
        // A value of another reset than this process's is not stored; the key's is dropped all the same.
        const change: KeyChange =
          compareStamps(message.s, this.stamp()) === 0
            ? { type: 'set', key: message.k, value: message.v, buffers: message.buffers, life: { ttl: message.tl, grace: message.gr }, again: message.a }
            : { type: 'invalidate', key: message.k, prefix: false, again: message.a }
        return this.#applyFor(from, message.ci, change)
      }
      case 'rep':
        return this.#replica(message)
      case 'fill':
        return void this.#fill(from).catch(() => {})
      case 'chunk':
        return this.#chunk(from, message, now)
      case 'chunked':
        return this.#chunksHeld(message.g, from, message.got, message.nx, now)
      case 'applied': {
        const announced = this.#announced.get(message.ci)
        announced?.waiting.delete(from)
        if (announced?.waiting.size === 0) announced.done()
        return
      }
    }
    // A message about a request of another reset than this process's is refused: its sender
    // asks again once the two have caught up with each other.
    if (compareStamps(message.s, this.stamp()) !== 0) return this.refused()
    this.#request(from, message)
  }

  #request(from: string, message: Exclude<PeerMessage, { t: 'beat' | 'hello' | 'bye' | 'reset' | 'ack' | 'gave' | 'taken' | 'inv' | 'set' | 'applied' | 'rep' | 'fill' | 'chunk' | 'chunked' }>): void {
    switch (message.t) {
      case 'give':
        if (!this.#outsideRequests('give', message)) this.#refusedFrom.add(from)
        return
      case 'get':
      case 'put':
      case 'fail':
      case 'drop':
        return this.#relays.request(from, message)
      case 'renew':
        return this.#relays.renew(from, message)
      case 'renewed':
        return this.#asks.renewed(from, message)
      default:
        return this.#asks.answer(from, message)
    }
  }

  /**
   * The bus was heard at `now`; with `sent`, a message of this process's own, sent then. A gap
   * longer than the peer timeout since it was last heard means this thread was blocked or the
   * process stopped: what is stored may be stale, so the process is cut off first (it catches up
   * from here), before anything heard can extend its serving. Only its own message extends it:
   * the peers that count this process in until `sent` + the peer timeout or later are those that
   * heard this message (or a later one); a message of a peer's may have been sent long before
   * it is read, and says nothing of whether the peers still hear this process.
   */
  #heardAt(now: number, sent?: number): void {
    if (this.#mode === 'live' && now - this.#heard > this.#options.peerTimeout) this.#cutOff()
    this.#heard = now
    if (sent !== undefined && sent > this.#echoed) this.#echoed = sent
    if (this.#mode === 'cut-off') this.#catchUp(now)
    if (this.#mode === 'live' && sent !== undefined) this.#serveFromEcho(now)
  }

  /** Serving runs until peerTimeout after the last own message heard back; not at all before one is. */
  #serveFromEcho(now: number): void {
    this.#shared.liveness.serveUntil(this.#echoed === 0 ? now : this.#echoed + this.#options.peerTimeout)
  }

  /**
   * When the broadcast that carried this process's message `q` left; undefined if it is no longer
   * remembered (sent more than peerTimeout ago), as a later one's time would claim more than
   * this message proves. The envelopes before it are forgotten: their messages, heard back after
   * this one if at all, would say nothing later.
   */
  #sentAt(q: number): number | undefined {
    const sent = this.#sent
    while (sent.length > 0 && (sent[0] as Sent).last < q) sent.shift()
    const carrier = sent[0]
    return carrier !== undefined && carrier.first <= q ? carrier.at : undefined
  }

  // ---- resets ----

  /** Takes a peer's reset if it comes after this process's, and is not beyond any a peer could have made. */
  #take(stamp: Stamp, version: Uint8Array): void {
    if (stamp.clock > this.stamp().clock + CLOCK_JUMP) return this.refused()
    try {
      this.#options.resets.adopt(version, stamp)
    } catch {
      // decode() lets through only what fits; this is the last line, should the two drift.
      this.refused()
    }
  }

  /** `peer` has taken reset `stamp` (or a later one). */
  #tookBy(peer: string, stamp: Stamp): void {
    this.#members.took(peer, stamp)
    this.#acknowledged()
  }

  /** The version changed (Resets): this process's own resets are announced; every change waits for the peers. */
  #changed(change: VersionChange): void {
    if (change.own) {
      // Now (see #flushFirst): the reset resolves once every peer has taken it.
      this.#broadcast({ t: 'reset', s: change.stamp, v: change.bytes })
      this.#flushFirst()
    }
    // Requests relayed from other processes were made under the reset this process has left:
    // their senders ask again under the new one.
    if (change.epoch !== this.#epochSeen) this.#relays.clear()
    this.#epochSeen = change.epoch
    this.#pending.push({ epoch: change.epoch, stamp: change.stamp, until: monotonic() + this.#patience() })
    this.#acknowledged()
  }

  /** The resets every live peer has taken (or that waited long enough) have taken effect. */
  #acknowledged(): void {
    const now = monotonic()
    while (this.#pending.length > 0) {
      const first = this.#pending[0] as Pending
      if (now < first.until && (!this.#members.allTook(first.stamp) || !this.#viewConfirms(now))) return
      this.#pending.shift()
      this.#shared.liveness.acked(first.epoch)
    }
  }

  /**
   * How long a request to a peer goes unrenewed (asks.ts): about a quarter of a peer timeout, so
   * that each lease is renewed four times or more, and at most once a heartbeat. Sent every
   * heartbeat, a get each, renewals were most of the traffic of a stampede of thousands of cold
   * keys, and the more their answers lagged, the longer the requests lived and the more renewals
   * there were.
   */
  #renewAfter(): number {
    const { heartbeat, peerTimeout } = this.#options
    return Math.max(heartbeat / 2, peerTimeout / 4 - heartbeat / 2)
  }

  /**
   * Whether what the view says (every live peer has taken a reset, or confirmed a change) holds
   * for the peers it no longer shows. Not while this process is not live (cut off, catching up):
   * it knows nothing of who serves, and the peers it dropped with its own silence may serve
   * until they too have heard nothing of their own for peerTimeout. Nor within the hold after it
   * counted a peer out (see #tick). Nor until a message of its own sent since then has come back:
   * its own link may be what failed, with the peers', which still hear it and themselves, failing
   * later; they serve until peerTimeout after that.
   */
  #viewConfirms(now: number): boolean {
    return this.#mode === 'live' && now >= this.#holdUntil && this.#echoed >= this.#countedOutAt
  }

  // ---- membership and time ----

  #tick(): void {
    const now = monotonic()
    // None of its own messages came back (sent no later than anything was heard): its peers
    // count it out, and it may have heard nothing at all. Unless they wait to be read: see #echoLate.
    if (this.#mode === 'live' && now - this.#echoed > this.#options.peerTimeout) this.#echoLate()
    // Not serving: keep the time in liveness.ts recent, so that its wrap-around never reads as serving.
    if (this.#mode !== 'live') this.#shared.liveness.serveUntil(now)
    if (this.#mode === 'catching-up' && now >= this.#catchUntil) this.#goLive()
    const gone = this.#members.expire(now)
    if (gone.length > 0) {
      // A peer dropped for its silence stops serving its peer timeout after it sent the last of
      // its messages it heard back, which may be a beat later than its last one heard here (the
      // broker died between delivering it there and here): no reset counts it out before then.
      this.#holdUntil = now + this.#members.widest().heartbeat + HOLD_MARGIN
      this.#countedOutAt = now
      this.#left(gone)
    }
    this.#beat()
    this.#welcomeDue(now)
    this.#asks.renew(now, this.#renewAfter())
    this.#relays.expire(now)
    this.#renewAnnounced(now)
    this.#replays.prune(Date.now())
    this.#chunks.expire(now)
    for (const [g, sending] of this.#sending) {
      sending.keep((peer) => peer === this.#self || this.#members.has(peer))
      sending.repair(now, REPAIR_HEARTBEATS * this.#options.heartbeat, this.#options.peerTimeout / 8, this.#self)
      if (sending.done || sending.stalled(now, this.#options.peerTimeout)) this.#sending.delete(g)
    }
    // An echo of a broadcast older than peerTimeout would let this process serve no longer.
    while (this.#sent.length > 0 && now - (this.#sent[0] as Sent).at > this.#options.peerTimeout) this.#sent.shift()
    const keep = Math.max(30_000, 4 * this.#options.peerTimeout)
    for (const [name, applied] of this.#applied) if (now - applied.at > keep) this.#applied.delete(name)
    for (const changed of [this.#changedKeys, this.#changedPrefixes]) for (const [key, at] of changed) if (now - at > this.#quiet()) changed.delete(key)
    this.#acknowledged()
  }

  #goLive(): void {
    this.#mode = 'live'
    this.#serveFromEcho(monotonic())
    this.#relays.release()
    // Joined, or caught up, with what it stored dropped: the peers send it copies.
    if (this.#options.replicas > 1 && this.#members.others().length > 0) this.#broadcast({ t: 'fill' })
  }

  /**
   * No message of its own has come back for peerTimeout, by the clock of a tick: this process
   * serves nothing stored now (liveness ended then). A tick that runs after the thread was held
   * up (a long turn: thousands of calls made at once) runs before the messages that came
   * meanwhile are read, as timers come before I/O in a turn of the event loop, and its own may be
   * among them. So it is cut off, and drops what it stored, at the end of this turn (after its
   * I/O), unless one has come back by then. Under load the cut-off came that way, though the
   * process had heard everything and been heard; its stored values were dropped and its
   * computations under way done again, and a cold stampede of 10,000 keys was computed twice.
   */
  #echoLate(): void {
    if (this.#echoCheck) return
    this.#echoCheck = true
    setImmediate(() => {
      this.#echoCheck = false
      if (!this.#closed && this.#mode === 'live' && monotonic() - this.#echoed > this.#options.peerTimeout) this.#cutOff()
    })
  }

  #cutOff(): void {
    this.#mode = 'cut-off'
    this.#shared.liveness.serveUntil(monotonic())
    // cut off again before it saw anyone: those it saw before still are the ones to name
    const others = this.#members.others()
    if (others.length > 0) this.#unseen = others
    this.#members.clear()
    // No taken will come from peers this process no longer sees: what waits on one goes on.
    for (const part of [...this.#parts.values()]) part.done()
    this.#welcomes.clear()
    this.#handed.clear()
    this.#refusedFrom.clear()
    this.#sending.clear()
    this.#relays.clear()
    this.#relays.hold()
    this.#membersChanged()
    this.#options.resets.advance()
  }

  #catchUp(now: number): void {
    this.#mode = 'catching-up'
    this.#catchUntil = now + 2 * this.#options.heartbeat
    this.#hello()
  }

  #left(peers: readonly string[]): void {
    const unhanded = peers.some((peer) => !this.#handed.has(peer))
    for (const peer of peers) {
      this.#welcomes.delete(peer)
      this.#handed.delete(peer)
      this.#refusedFrom.delete(peer)
      for (const part of [...this.#parts.values()]) if (part.peer === peer) part.done()
      this.#relays.forgetPeer(peer)
      if (events.peerLeave.hasSubscribers) events.peerLeave.publish({ cache: this.#options.name, peer })
    }
    // The keys of those that left move to the others. One that left before it handed over leaves
    // this newcomer's keys another previous owner, which may hold a copy of a value: until each
    // peer has handed over again, this process asks them again (while it asks anyone: in the
    // epoch it joined in). One that had handed over left nothing here to find: this process has
    // its values (and asking every peer to scan its store again at every leave, in a cluster
    // that never resets, would cost each leave a scan per pair of peers).
    if (unhanded && this.#joined !== 0 && this.#joined === this.epoch() && this.#handed.size > 0) {
      this.#handed.clear()
      this.#hello()
    }
    this.#membersChanged()
    this.#acknowledged()
  }

  #view(): AgentToOwner {
    const members = this.#members.view()
    return { type: 'view', members, joined: this.#joined, earlier: members.filter((m) => this.#earlier.has(m)), handed: [...this.#handed] }
  }

  /** The members changed: the owners hash their keys again, and stats see the new count. */
  #membersChanged(): void {
    const view = this.#view()
    for (let i = 0; i < this.#owners.length; i++) this.#post(i, view)
    this.#publishPeers()
  }

  #publishPeers(): void {
    this.#shared.liveness.setPeers(this.#members.others().length)
    this.#shared.counters.setPeerSums(this.#members.sums())
  }
}
