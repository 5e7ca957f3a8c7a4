// New connections before bulk reads. libuv 1.46 (Node 20) accepts one connection per event-loop turn, and a turn
// reads from every ready socket, up to 32 reads each. While transfers keep every turn busy, a burst of clients
// connecting at once waits one busy turn each: with 64 downloads of 1 MiB running, the 64th new client was accepted
// 260 ms after it connected, and those first requests made the whole p99 (npm run bench, HTTP 1 MiB). So relays
// that have been reading stop while connections arrive, and go on in the first turn that accepts none: a burst of
// 64 is accepted in about 30 ms instead. Relays that read nothing since the last burst are left alone (an idle SSH
// session costs nothing here).

/** A relay's reader: a net.Socket, or one side of a relay on Node's TCP handles (raw-tcp.ts). */
export interface TurnReader {
  pause(): unknown
  resume(): unknown
  isPaused(): boolean
  readonly readableEnded: boolean
  readonly destroyed: boolean
}

/** Relays hold back for at most this many turns in a row, so a steady stream of new clients cannot starve them. */
export const MAX_HELD_TURNS = 32

/** Sockets that read something since the last accept and are still reading. */
const active = new Set<TurnReader>()
/** Sockets paused by an accept in this burst, resumed once it is over. */
let held: TurnReader[] | undefined
let acceptedThisTurn = false
let heldTurns = 0

/** Called after each pooled read; `reading` is false when the reader paused the socket (it resumes it itself). */
export function noteRead(socket: TurnReader, reading: boolean): void {
  if (reading) active.add(socket)
  else active.delete(socket)
}

/** Called when a relay socket closes. */
export function forgetRelay(socket: TurnReader): void {
  active.delete(socket)
}

/** Called for each accepted connection: active relays stop reading until a turn passes without an accept. */
export function noteAccept(): void {
  acceptedThisTurn = true
  if (active.size === 0) return
  const starting = held === undefined
  held ??= []
  for (const socket of active) {
    // A socket paused by someone else stays theirs: it is neither paused nor resumed here. One whose FIN came in
    // ('end' follows the read on the next tick, before this) reads nothing more, so it is left alone too.
    if (!socket.isPaused() && !socket.readableEnded && !socket.destroyed) {
      socket.pause()
      held.push(socket)
    }
  }
  active.clear()
  if (starting) {
    heldTurns = 0
    setImmediate(endOfTurn)
  }
}

/** Runs after each turn's I/O while relays are held (setImmediate: the check phase that follows the poll). */
function endOfTurn(): void {
  heldTurns++
  if (acceptedThisTurn && heldTurns < MAX_HELD_TURNS) {
    acceptedThisTurn = false
    setImmediate(endOfTurn)
    return
  }
  acceptedThisTurn = false
  const sockets = held ?? []
  held = undefined
  for (const socket of sockets) if (!socket.destroyed) socket.resume()
}
