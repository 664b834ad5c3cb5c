// A bus over the IPC channels node already has between a process and the children it made with
// node:cluster or child_process.fork: no server to run. Each process's bus is a node of a tree.
// It delivers to its own members, routes for its children, and hands up to its parent whatever
// it cannot deliver below: a broadcast goes to every link but the one it came by, and a message
// to one peer goes down the link that peer joined through, else up. Joins travel up to the top,
// which answers, so a join resolves once every process can reach the new member.
//
// Envelopes share the channel with the user's own messages; a field named 'coop-cache' tells
// them apart, and anything without it is left alone. The bytes travel as base64, since the
// channel's default serialization is JSON.
import cluster, { type Worker } from 'node:cluster'
import type { ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import type { Bus, BusMember } from './bus.js'

/** Options of {@link ipcBus}. */
export interface IpcBusOptions {
  /** Children made with `child_process.fork` to route for; add later ones with `adopt`. @default [] */
  readonly children?: readonly ChildProcess[]
  /**
   * Whether this process reaches the bus through an ipcBus in its parent process. Set it to
   * false at the top of the tree when that process has an IPC channel all the same, to a parent
   * that runs no ipcBus (a test runner, nodemon, pm2's fork mode): else its joins time out.
   * @default true when the process has an IPC channel to its parent (`process.send`)
   */
  readonly parent?: boolean
  /** How long `join` waits for the parent's ipcBus to answer, in milliseconds. @default 2000 */
  readonly timeout?: number
}

/** A {@link Bus} between a process and its children over node's IPC; made by {@link ipcBus}. */
export interface IpcBus extends Bus {
  /** Routes for `child` too: a child forked after the bus was made. Adopting it twice is harmless. */
  adopt(child: ChildProcess): void
  /** Stops routing: removes every listener the bus added. Its members hear nothing more. */
  close(): void
}

type Envelope = { 'coop-cache': 1 } & (
  | { type: 'join'; topic: string; from: string; id: string }
  | { type: 'joined'; id: string }
  | { type: 'leave'; topic: string; from: string }
  | { type: 'message'; topic: string; from: string; to?: string; data: string }
)
type Message = Extract<Envelope, { type: 'message' }>
/** A child process or a cluster worker: both have a `send` that reports errors to a callback. */
type Child = ChildProcess | Worker
type Member = { readonly peer: string; readonly receive: (message: Uint8Array) => void }

const ignore = () => {}
const isEnvelope = (m: unknown): m is Envelope =>
  typeof m === 'object' && m !== null && (m as Record<string, unknown>)['coop-cache'] === 1

/**
 * Makes the bus of this process, the same call in a cluster primary, a cluster worker, a parent
 * and a forked child. Make one per process and give it to every cache there: two in a cluster
 * primary would both route every worker's messages. The process's own 'message' listeners see
 * the bus's envelopes too; they can skip any message that has a 'coop-cache' field.
 */
export function ipcBus(options: IpcBusOptions = {}): IpcBus {
  const { children = [], parent = process.send !== undefined, timeout = 2000 } = options
  if (!(Number.isFinite(timeout) && timeout > 0)) throw new RangeError(`options.timeout must be a positive number of milliseconds, not ${timeout}`)
  const up = parent && process.send !== undefined
  const local = new Map<string, Set<Member>>()
  const routes = new Map<string, Map<string, Child>>() // topic → peer → the child it joined through
  const acks = new Map<string, () => void>() // join id → what to do when the top answers
  let listening = false

  const post = (child: Child, envelope: Envelope) => {
    try { child.send(envelope, ignore) } catch { /* the child is gone; a lost message is lost */ }
  }
  const toParent = (envelope: Envelope) => {
    if (up && process.connected) process.send?.(envelope, undefined, undefined, ignore)
  }
  const fromParent = (m: unknown) => { if (isEnvelope(m)) handle(m, 'parent') }
  // The listener on process refs the channel: listen only while something here needs the parent.
  const listen = () => {
    const need = up && (local.size > 0 || routes.size > 0 || acks.size > 0)
    if (need !== listening) need ? process.on('message', fromParent) : process.off('message', fromParent)
    listening = need
  }

  function route(m: Message, source: Child | 'parent' | 'local'): void {
    const here = [...(local.get(m.topic) ?? [])].filter((member) => m.to === undefined || m.to === member.peer)
    const give = () => {
      for (const member of here) if (local.get(m.topic)?.has(member)) member.receive(new Uint8Array(Buffer.from(m.data, 'base64')))
    }
    // Never call a member back inside its own broadcast or send.
    source === 'local' ? setImmediate(give) : give()
    const below = routes.get(m.topic)
    if (m.to === undefined) {
      for (const child of new Set(below?.values())) if (child !== source) post(child, m)
      if (source !== 'parent') toParent(m)
    } else if (here.length === 0) {
      const child = below?.get(m.to)
      if (child !== undefined) { if (child !== source) post(child, m) } else if (source !== 'parent') toParent(m)
    }
  }

  function learn(topic: string, peer: string, child: Child): void {
    const peers = routes.get(topic) ?? new Map<string, Child>()
    routes.set(topic, peers.set(peer, child))
  }
  function forget(topic: string, peer: string, child: Child): void {
    const peers = routes.get(topic)
    if (peers?.get(peer) !== child) return
    peers.delete(peer)
    if (peers.size === 0) routes.delete(topic)
    toParent({ 'coop-cache': 1, type: 'leave', topic, from: peer })
    listen()
  }

  function handle(m: Envelope, source: Child | 'parent'): void {
    if (m.type === 'message') {
      if (source !== 'parent') learn(m.topic, m.from, source)
      route(m, source)
    } else if (m.type === 'joined') {
      if (source === 'parent') acks.get(m.id)?.()
    } else if (source === 'parent') {
      return // joins and leaves only ever travel up
    } else if (m.type === 'join') {
      learn(m.topic, m.from, source)
      const answer = () => post(source, { 'coop-cache': 1, type: 'joined', id: m.id })
      if (!up) return answer()
      acks.set(m.id, () => acks.delete(m.id) && answer())
      listen()
      toParent(m)
    } else forget(m.topic, m.from, source)
  }

  const forgetChild = (child: Child) => {
    for (const [topic, peers] of routes) for (const [peer, l] of peers) if (l === child) forget(topic, peer, child)
  }
  const adopted = new Map<object, () => void>() // a child, or cluster → how to stop listening to it
  function adopt(child: ChildProcess): void {
    if (adopted.has(child)) return
    const onMessage = (m: unknown) => { if (isEnvelope(m)) handle(m, child) }
    const onGone = () => forgetChild(child)
    child.on('message', onMessage).on('disconnect', onGone)
    adopted.set(child, () => child.off('message', onMessage).off('disconnect', onGone))
  }
  children.forEach(adopt)
  if (cluster.isPrimary) {
    const onMessage = (worker: Worker, m: unknown) => { if (isEnvelope(m)) handle(m, worker) }
    cluster.on('message', onMessage).on('disconnect', forgetChild)
    adopted.set(cluster, () => cluster.off('message', onMessage).off('disconnect', forgetChild))
  }

  return {
    adopt,
    close() {
      adopted.forEach((stop) => stop())
      local.forEach((members) => members.clear())
      for (const map of [adopted, local, routes, acks]) map.clear()
      listen()
    },
    async join(topic, peer, receive) {
      if (typeof topic !== 'string' || typeof peer !== 'string') throw new TypeError('topic and peer must be strings')
      if (up) {
        if (!process.connected) throw new Error(`ipcBus: the IPC channel to the parent process (pid ${process.ppid}) is closed`)
        const id = randomUUID()
        await new Promise<void>((resolve, reject) => {
          const answered = (error?: Error) => {
            clearTimeout(timer)
            acks.delete(id)
            if (error === undefined) return resolve()
            listen()
            reject(error)
          }
          const timer = setTimeout(() => answered(new Error(`ipcBus: no ipcBus in the parent process (pid ${process.ppid}), or above it, answered the join within ${timeout} ms; call ipcBus() there, or pass { parent: false } in the process at the top`)), timeout).unref()
          acks.set(id, answered)
          listen()
          toParent({ 'coop-cache': 1, type: 'join', topic, from: peer, id })
        })
      }
      const me: Member = { peer, receive }
      const members = local.get(topic) ?? new Set()
      local.set(topic, members.add(me))
      listen()
      const message = (bytes: Uint8Array, to?: string): Message => ({
        'coop-cache': 1, type: 'message', topic, from: peer, ...(to === undefined ? {} : { to }),
        data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
      })
      const member: BusMember = {
        broadcast: (bytes) => { if (members.has(me)) route(message(bytes), 'local') },
        send: (to, bytes) => { if (members.has(me)) route(message(bytes, to), 'local') },
        async leave() {
          if (!members.delete(me)) return
          if (members.size === 0 && local.get(topic) === members) local.delete(topic)
          toParent({ 'coop-cache': 1, type: 'leave', topic, from: peer })
          listen()
        },
      }
      return member
    },
  }
}
