// A member's receive callback is the cache's code, called from inside a client library's event
// handler: a throw there would escape into the client (ioredis turns it into an uncaught
// exception, which ends the process; the NATS client ends the subscription for good). Every
// broker bus hands messages to its members through here, so one bad message, or one bad
// callback, costs that message and nothing more.

/** Hands messages to receive callbacks so that what they throw goes no further. */
export interface Listeners {
  /**
   * Calls `receive` with `message`. A throw (or the rejection of a promise it returns) is
   * counted and warned about once per bus, and goes no further.
   */
  deliver(receive: (message: Uint8Array) => void, message: Uint8Array): void
  /** How many calls of a receive callback threw or rejected. */
  readonly errors: number
}

/** The listeners of one bus; `bus` names it in the warning, as in `'natsBus'`. */
export function listeners(bus: string): Listeners {
  let errors = 0
  const threw = (error: unknown) => {
    if (errors++ > 0) return
    process.emitWarning(
      `coop-cache: a receive callback on a ${bus} threw (${describe(error)}); that message is lost, later ones still arrive. The bus's listenerErrors counts these; this warning is not repeated for this bus`,
      { code: 'COOP_CACHE_BUS_LISTENER_THREW' },
    )
  }
  return {
    deliver(receive, message) {
      try {
        // Typed void, but an async function fits that type too: its rejection is caught as well.
        const result: unknown = receive(message)
        if (result instanceof Promise) result.catch(threw)
      } catch (error) {
        threw(error)
      }
    },
    get errors() {
      return errors
    },
  }
}

/** What was thrown, as text; never throws itself (String() of some objects does). */
function describe(error: unknown): string {
  try {
    return String(error)
  } catch {
    return 'a value that cannot be printed'
  }
}
