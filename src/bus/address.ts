// How the broker buses name what they publish to: NATS subjects and Redis channels alike.

/** The subject (or channel) of a topic's broadcasts, or of the messages to one of its peers. */
export function address(topic: string, peer?: string): string {
  return `coop-cache.${token(topic)}.${peer === undefined ? 'all' : `peer.${token(peer)}`}`
}

/**
 * A topic or a peer id as one token: as it is when it is plain (letters, digits, '-', '_'), so
 * that names stay readable in the server's tools, else its UTF-8 bytes with each other byte as
 * %XX. In a NATS subject a '.', '*', '>' or space would split the token or make it a wildcard.
 */
function token(s: string): string {
  if (s === '') return '%'
  let out = ''
  for (const byte of Buffer.from(s)) {
    const plain = /[A-Za-z0-9_-]/.test(String.fromCharCode(byte))
    out += plain ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}
