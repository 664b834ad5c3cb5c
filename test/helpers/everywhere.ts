// What every process of a test cluster is served for some keys, told apart by the fn its calls
// carry: each key's fn gives `${key as JSON} ${word}`, so a value names both its key and the
// round of calls whose fn computed it, and a value kept from an earlier round shows.
import type { Key } from 'coop-cache'
import { outcomesOf, type Peer } from './cluster.js'

export const shown = (key: Key): string => JSON.stringify(key)

/** The value a key's fn gives in round `word`. */
export const valueOf = (key: Key, word: string): string => `${shown(key)} ${word}`

/**
 * Every caller thread of every one of `peers` calls `calls` times at once for each of `keys`,
 * with a fn that would give `valueOf(key, word)`: per key (as JSON), the values served, sorted.
 */
export async function servedEverywhere(peers: readonly Peer[], keys: readonly Key[], word: string, calls = 2): Promise<Record<string, string[]>> {
  const runs = peers.flatMap((p) => keys.map((key) => p.stampede([key], calls, { value: valueOf(key, word) }).done))
  const served: Record<string, Set<string>> = Object.fromEntries(keys.map((key) => [shown(key), new Set<string>()]))
  for (const { key, outcome } of outcomesOf(await Promise.all(runs))) {
    served[shown(key)]?.add(outcome.ok ? String(outcome.value) : `${outcome.name}: ${outcome.message}`)
  }
  return Object.fromEntries(Object.entries(served).map(([key, values]) => [key, [...values].sort()]))
}

/** What servedEverywhere() gives when each key is served its value of round `wordOf(key)` only. */
export function only(keys: readonly Key[], wordOf: (key: Key) => string): Record<string, string[]> {
  return Object.fromEntries(keys.map((key) => [shown(key), [valueOf(key, wordOf(key))]]))
}
