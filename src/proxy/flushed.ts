// When bytes queued on a socket have gone to the kernel. Not 'drain': Node emits that only after a write that
// returned false (the queue reached the high-water mark), so a write below it that still had to queue (the kernel
// buffer was full) brings no 'drain' at all, and whoever waited for one waited forever.
import type {Writable} from 'node:stream'

const EMPTY = Buffer.alloc(0)

/**
 * Calls `then` once every byte written to `socket` before this call has been handed to the kernel, or the socket
 * failed or was destroyed. Writes go out in order, so an empty write's callback comes after all of them.
 */
export function whenFlushed(socket: Writable, then: () => void): void {
  socket.write(EMPTY, () => then())
}
