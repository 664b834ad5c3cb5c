// The bits of a ValueMessage's `how` (protocol.ts): what an owner's answer is. One number rather
// than a field per flag, because every hit is such a message, and each field is one more to
// clone in the owner and to read back in the caller, whose thread is the one a busy caller waits on.

/** the owner holds this value */
export const STORED = 1
/** it came from the store, not from a computation just finished */
export const HIT = 2
/** it came from another process */
export const REMOTE = 4
/** it has expired, and is served within its grace */
export const STALE = 8
/** stale, and nobody refreshes it: the caller should */
export const REFRESH = 16
