// A plain client of a broker, beside the cache's peers: it hears what is published on a cache's
// Redis channels or NATS subjects, and publishes bytes there as anyone with access to the
// broker could. Closed by t.teardown.
import type { ExecutionContext } from 'ava'
import { deserialize } from 'node:v8'
import { connect } from '@nats-io/transport-node'
import { Redis } from 'ioredis'
import { unchecked } from '../../src/peer/seal.js'

/** A message heard on the broker, unsigned envelope opened; `message` undefined when it does not parse. */
export interface Tapped {
  readonly subject: string
  readonly at: number
  readonly message: (Record<string, unknown> & { t?: string; f?: string; q?: number }) | undefined
}

export interface Tap {
  readonly heard: Tapped[]
  publish(subject: string, bytes: Uint8Array): Promise<void>
  /** Resolves with the first message heard (from now on, or already) that `match` holds for; rejects after `ms`. */
  next(match: (m: Tapped) => boolean, ms?: number): Promise<Tapped>
}

/** Listens on `subjects` of the broker at `url` (NATS subjects, or Redis channels). */
export async function tap(t: ExecutionContext, bus: 'redis' | 'nats', url: string, subjects: readonly string[]): Promise<Tap> {
  const heard: Tapped[] = []
  const hear = (subject: string, bytes: Uint8Array) => {
    const payload = unchecked(bytes)
    let messages: Tapped['message'][]
    try {
      const read: unknown = payload === undefined ? undefined : deserialize(payload)
      // an envelope of several messages (a sender's turn): each is heard
      messages = (Array.isArray(read) ? read : [read]) as Tapped['message'][]
    } catch {
      messages = [undefined]
    }
    for (const message of messages) heard.push({ subject, at: Date.now(), message })
  }
  let publish: Tap['publish']
  if (bus === 'redis') {
    const sub = new Redis(url, { lazyConnect: true })
    const pub = new Redis(url, { lazyConnect: true })
    t.teardown(() => {
      sub.disconnect()
      pub.disconnect()
    })
    await Promise.all([sub.connect(), pub.connect()])
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => hear(channel.toString(), new Uint8Array(message)))
    await sub.subscribe(...subjects)
    publish = async (subject, bytes) => {
      await pub.publish(subject, Buffer.from(bytes))
    }
  } else {
    const nc = await connect({ servers: url })
    t.teardown(() => nc.close())
    for (const subject of subjects) nc.subscribe(subject, { callback: (error, m) => { if (error === null) hear(subject, m.data) } })
    await nc.flush()
    publish = async (subject, bytes) => {
      nc.publish(subject, bytes)
      await nc.flush()
    }
  }
  return {
    heard,
    publish,
    async next(match, ms = 5000) {
      const end = Date.now() + ms
      for (let from = 0; ; ) {
        const found = heard.slice(from).find(match)
        if (found !== undefined) return found
        from = heard.length
        if (Date.now() > end) throw new Error(`nothing such was heard on the broker within ${ms} ms`)
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
    },
  }
}
