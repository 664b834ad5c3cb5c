// Values of the kinds a structured clone or a trip through bytes could change, made alike in any
// thread, and kindOf(): what a value is, constructors all the way down and its contents, as a
// string that survives a postMessage. A caller in any thread, or any process, says what it got
// with kindOf, and the test compares it with what fn made. KindThread is the test's side of a
// worker thread (fixtures/kinds-caller.ts) that calls for it and says what it got.
import { Worker } from 'node:worker_threads'
import type { Cache, ComputeContext } from 'coop-cache'
import type { Board } from './board.js'
export const makers = {
  'a small Buffer': () => Buffer.from('héllo'),
  'a Buffer over 16 KiB': () => Buffer.alloc(20_000, 7),
  'a small Uint8Array': () => new Uint8Array([1, 2, 3]),
  'a Uint8Array over 16 KiB': () => new Uint8Array(20_000).fill(9),
  'Buffers inside plain data': () => ({ head: Buffer.from('a'), rows: [Buffer.from('b'), new Uint8Array([2])], big: Buffer.alloc(17_000, 1) }),
  'a Map of a Date and a Set': () => new Map<string, unknown>([['when', new Date(86_400_000)], ['tags', new Set(['a', 'b'])]]),
  'typed arrays and views': () => ({ f: new Float64Array([1.5, -2]), i: new Int16Array([-7]), big: new BigUint64Array([2n ** 63n]), view: new DataView(new ArrayBuffer(3)) }),
  'a Set of Buffers': () => new Set([Buffer.from('s'), Buffer.alloc(16_500, 2)]),
} satisfies Record<string, () => unknown>

export type Kind = keyof typeof makers
export const KINDS = Object.keys(makers) as Kind[]

/** A class whose instances a clone would turn into plain objects. */
export class Page {
  readonly n = 1
  title(): string {
    return `page ${this.n}`
  }
}
export class Registry extends Map<string, number> {}

/** Values holding a class instance, and where in them it is (as ValueNotCloneableError names it). */
export const instances = {
  'a class instance': { make: () => new Page(), where: 'value is an instance of Page' },
  'a Map subclass': { make: () => new Registry([['a', 1]]), where: 'value is an instance of Registry' },
  'an instance in an array': { make: () => [1, new Page()], where: 'value[1] is an instance of Page' },
  'an instance in a Map': { make: () => new Map([['p', new Page()]]), where: 'value.get(…)[0] is an instance of Page' },
  'an instance in a field': { make: () => ({ page: new Page() }), where: 'value.page is an instance of Page' },
  'an instance deep down': { make: () => ({ rows: [{ cells: new Set([new Page()]) }] }), where: 'value.rows[0].cells.values()[0] is an instance of Page' },
} satisfies Record<string, { make: () => unknown; where: string }>

export type Instance = keyof typeof instances
export const INSTANCES = Object.keys(instances) as Instance[]

/** What fn returns for a name: a value of one of the kinds, or one holding a class instance. */
export function make(name: Kind | Instance): unknown {
  return name in makers ? makers[name as Kind]() : instances[name as Instance].make()
}

/** The kind and contents of `value`, constructors all the way down. */
export function kindOf(value: unknown): string {
  if (typeof value !== 'object' || value === null) return typeof value === 'bigint' ? `${value}n` : JSON.stringify(value) ?? String(value)
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'null-prototype'
  if (value instanceof DataView) return `${name}(${value.byteLength})`
  if (ArrayBuffer.isView(value)) {
    const items = [...(value as unknown as Iterable<number | bigint>)]
    // Large ones by length and sum, so that a description stays short.
    const shown = items.length > 16 ? `${items.length} items, sum ${items.reduce((a: number, b) => a + Number(b), 0)}` : items.map(String).join(',')
    return `${name}[${shown}]`
  }
  if (value instanceof Date) return `${name}(${value.toISOString()})`
  if (value instanceof Map) return `${name}{${[...value].map(([k, v]) => `${kindOf(k)}=>${kindOf(v)}`).join(', ')}}`
  if (value instanceof Set) return `${name}{${[...value].map(kindOf).join(', ')}}`
  if (Array.isArray(value)) return `${name}[${value.map(kindOf).join(', ')}]`
  return `${name}{${Object.entries(value).map(([k, v]) => `${k}: ${kindOf(v)}`).join(', ')}}`
}

/** What a call got, described: its value's kind, or its error. */
export type Got = { readonly kind: string } | { readonly error: { readonly name: string; readonly code?: string; readonly message: string } }

export async function got(call: Promise<unknown>): Promise<Got> {
  try {
    return { kind: kindOf(await call) }
  } catch (error) {
    const { name, code, message } = error as { name: string; code?: string; message: string }
    return { error: code === undefined ? { name, message } : { name, code, message } }
  }
}

/** An fn that makes `name`, counted on `board`, and held at `gate` there if given. */
export function making(board: Board, name: Kind | Instance, gate?: number): (context: ComputeContext) => Promise<unknown> {
  return async (context) => {
    await board.fn(gate === undefined ? {} : { gate })(context)
    return make(name)
  }
}

/** A call a KindThread makes: `count` calls for `key` at once, fn making `name` (after `gate`, if given). */
export interface KindCall {
  readonly id: number
  readonly key: string
  readonly name: Kind | Instance
  readonly count: number
  readonly gate?: number
}

/** A worker thread attached to a cache, which calls for a key and says what each call got. */
export class KindThread {
  readonly #worker: Worker
  readonly #pending = new Map<number, (results: Got[]) => void>()
  #lastId = 0

  constructor(cache: Cache, board: Board) {
    this.#worker = new Worker(new URL('../fixtures/kinds-caller.js', import.meta.url), { workerData: { cache: cache.handle, board: board.buffer } })
    this.#worker.on('message', ({ id, results }: { id: number; results: Got[] }) => {
      this.#pending.get(id)?.(results)
      this.#pending.delete(id)
    })
  }

  /** What `count` concurrent calls for `key` got, fn making `name` (held at `gate` if given). */
  get(key: string, name: Kind | Instance, count = 1, gate?: number): Promise<Got[]> {
    const call: KindCall = gate === undefined ? { id: ++this.#lastId, key, name, count } : { id: ++this.#lastId, key, name, count, gate }
    return new Promise((resolve) => {
      this.#pending.set(call.id, resolve)
      this.#worker.postMessage(call)
    })
  }

  async end(): Promise<void> {
    await this.#worker.terminate()
  }
}
