// comlink ships ES modules without an `exports` map or .d.mts files; these name their types.
declare module 'comlink/dist/esm/comlink.mjs' {
  export * from 'comlink'
}
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink'
  import type { MessagePort, Worker } from 'node:worker_threads'
  export default function nodeEndpoint(endpoint: MessagePort | Worker): Endpoint
}
