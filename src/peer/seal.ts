// The envelope of every message on the bus: a wire version, and with a secret an HMAC-SHA256 over
// everything else (the version, the key's id, the topic and the payload, which names the sender,
// its sequence number and its clock: see wire.ts). A message whose wire version is not this
// one's, or that is not signed with one of the cache's keys, is refused before anything in it is
// read. Keys rotate: a message is signed with the first key and accepted under any.
//
//   [0]       wire version (7: the answer to a chunk names the first one its recipient lacks)
//   [1]       1 when signed, 0 when not
//   [2..6)    signed: the first 4 bytes of SHA-256(key), naming the key
//   [6..38)   signed: the HMAC
//   the rest  the payload
import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto'
import { deserialize } from 'node:v8'

/**
 * Moves whenever a message of one build could be refused or misread by another: peers of two
 * wire versions refuse each other's messages for that reason, before reading them (counted as
 * dropped), so each goes on as a cluster of its own version rather than half-understand the other.
 */
export const WIRE_VERSION = 7
const HEAD = 2
const KEY_ID = 4
const MAC = 32
const SIGNED = HEAD + KEY_ID + MAC

interface Key {
  readonly id: Buffer
  /**
   * The secret as a key object, made once: given its bytes, Node 24's `createHmac` imports the
   * key again at every message, which made an HMAC of a 349-byte message cost 13 µs there
   * against 3 µs (Node 20 and 22 cost the same either way).
   */
  readonly secret: KeyObject
}

/** Whether envelope `bytes` says it is signed, whatever its key: a check comes only with {@link Seal.open}. */
export function claimsSigned(bytes: Uint8Array): boolean {
  return bytes.length >= HEAD && bytes[1] === 1
}

/**
 * The payload of envelope `bytes` of this wire version, unchecked: what anyone who listens on the
 * bus can read, since a seal authenticates and does not hide (test helpers read so, as a rogue
 * would). Undefined for what is not such an envelope.
 */
export function unchecked(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length < HEAD || bytes[0] !== WIRE_VERSION) return undefined
  if (bytes[1] === 0) return payloadOf(bytes)
  return bytes[1] === 1 && bytes.length >= SIGNED ? payloadOf(bytes) : undefined
}

/** What follows the head of envelope `bytes`: after the key's id and the MAC, when it says it is signed. */
const payloadOf = (bytes: Uint8Array): Uint8Array => bytes.subarray(bytes[1] === 1 ? SIGNED : HEAD)

export class Seal {
  readonly #keys: readonly Key[]
  readonly #topic: Buffer

  /** Seals for `topic` (the cache's name); without `secrets`, messages go unsigned, and a signed one is refused. */
  constructor(topic: string, secrets: readonly Uint8Array[]) {
    this.#topic = Buffer.from(topic)
    this.#keys = secrets.map((secret) => ({ id: createHash('sha256').update(secret).digest().subarray(0, KEY_ID), secret: createSecretKey(secret) }))
  }

  get signed(): boolean {
    return this.#keys.length > 0
  }

  /** The envelope of `payload`. */
  seal(payload: Uint8Array): Uint8Array {
    const key = this.#keys[0]
    if (key === undefined) {
      const out = new Uint8Array(HEAD + payload.length)
      out[0] = WIRE_VERSION
      out.set(payload, HEAD)
      return out
    }
    const out = Buffer.allocUnsafe(SIGNED + payload.length)
    out[0] = WIRE_VERSION
    out[1] = 1
    key.id.copy(out, HEAD)
    out.set(payload, SIGNED)
    this.#mac(key, out).copy(out, HEAD + KEY_ID)
    return out
  }

  /** The payload of `bytes`, or why the envelope is refused. */
  open(bytes: Uint8Array): Uint8Array | string {
    if (bytes.length < HEAD) return 'it is too short to be a message'
    if (bytes[0] !== WIRE_VERSION) return `its wire version is ${bytes[0]}, not ${WIRE_VERSION}`
    const signed = bytes[1] === 1
    if (!signed && bytes[1] !== 0) return 'its envelope is malformed'
    // Without keys, a signed message is another cluster's (or a forgery it cannot check): read,
    // its sender would count as a member here, where it refuses everything this process says.
    if (this.#keys.length === 0) return signed ? 'it is signed, and this cache has no secret' : payloadOf(bytes)
    if (!signed) return 'it is not signed'
    if (bytes.length < SIGNED) return 'it is too short to be a signed message'
    const key = this.#keyOf(bytes)
    if (key === undefined) return 'it is signed with a key this cache does not have'
    const mac = this.#mac(key, bytes)
    if (!timingSafeEqual(mac, bytes.subarray(HEAD + KEY_ID, SIGNED))) return 'its signature is wrong'
    return payloadOf(bytes)
  }

  /** The key a signed envelope names (by its id), if this cache has it. */
  #keyOf(bytes: Uint8Array): Key | undefined {
    const id = bytes.subarray(HEAD, HEAD + KEY_ID)
    return this.#keys.find((k) => k.id.equals(id))
  }

  /**
   * For an envelope that {@link Seal.open} refused: why this process cannot read it, when it looks
   * like a peer's of cache `name` (its payload, read unchecked, is a message or a batch of
   * messages naming the cache), of another wire version, or under a secret this process does
   * not have, or without one; undefined for anything else. Such a peer and this process do not
   * hear each other, so each goes on as a cluster of its own.
   */
  foreign(bytes: Uint8Array, name: string): string | undefined {
    if (bytes.length < HEAD || (bytes[1] !== 0 && bytes[1] !== 1)) return undefined
    const signed = bytes[1] === 1
    let why: string
    if (bytes[0] !== WIRE_VERSION) why = `it is of wire version ${bytes[0]}, this process of ${WIRE_VERSION}`
    else if (!signed) why = 'it is not signed, and this process has a secret'
    else if (this.#keys.length === 0) why = 'it is signed, and this process has no secret'
    else if (bytes.length >= SIGNED && this.#keyOf(bytes) === undefined) why = 'it is signed with a secret this process does not have'
    else return undefined
    return namesCache(payloadOf(bytes), name) ? why : undefined
  }

  /** The HMAC of an envelope: its head, the topic, its payload. */
  #mac(key: Key, envelope: Uint8Array): Buffer {
    const topicLength = Buffer.allocUnsafe(2)
    topicLength.writeUInt16BE(Math.min(this.#topic.length, 0xffff))
    return createHmac('sha256', key.secret)
      .update(envelope.subarray(0, HEAD + KEY_ID))
      .update(topicLength)
      .update(this.#topic)
      .update(envelope.subarray(SIGNED))
      .digest()
  }
}

/** Whether `payload` reads as a message of cache `name`, or a batch whose first one is. */
function namesCache(payload: Uint8Array, name: string): boolean {
  try {
    const read: unknown = deserialize(payload)
    const first: unknown = Array.isArray(read) ? read[0] : read
    return typeof first === 'object' && first !== null && (first as { c?: unknown }).c === name
  } catch {
    return false
  }
}
