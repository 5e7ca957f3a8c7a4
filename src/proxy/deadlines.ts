// Shared deadlines for the relays on TCP handles (raw-tcp.ts, sni.ts): a connect timeout, an idle timeout and the SNI
// hello timeout per connection. A setTimeout each costs a Timeout object with its async-hook bookkeeping, a refcount
// toggle into C++ for unref(), and a new Node timer list whenever the list for that delay empties and fills again,
// which at a few thousand short connections a second is most of the time. Here every connection waiting on the same
// delay sits in a timer wheel (Varghese & Lauck, "Hashed and hierarchical timing wheels", SOSP 1987): one Set per
// slot of delay/32, and a single unref'd timer that runs once per slot while the wheel holds anything. Adding and
// removing a connection is a Set add and delete; a deadline fires at most one slot (1/32 of the delay) late.

/** Something waiting on a deadline. */
export interface Deadline {
  /** Date.now() at which onDue is called; fixed while the entry is in a wheel. */
  dueMs: number
  /** The deadline passed: return a later dueMs to wait again (an idle relay that was active), or nothing. */
  onDue(nowMs: number): number | undefined
}

/** Slots per delay: a deadline fires at most delay/SLOTS late. */
const SLOTS = 32
/** Finer slots than this only make the timer run more often (Node's timers have millisecond resolution). */
const MIN_SLOT_MS = 1

/** Every deadline of one delay, by slot; see the file comment. */
export class DeadlineWheel {
  private readonly slotMs: number
  /** SLOTS + 2 slots: an entry due a whole delay ahead never shares a slot with one due now. */
  private readonly slots: Array<Set<Deadline>>
  private count = 0
  /** The next slot (dueMs / slotMs, floored) to run. */
  private nextSlot = 0
  private timer?: NodeJS.Timeout
  private readonly tick = (): void => this.run()

  constructor(readonly delayMs: number) {
    this.slotMs = Math.max(MIN_SLOT_MS, Math.ceil(delayMs / SLOTS))
    this.slots = Array.from({length: Math.ceil(Math.max(0, delayMs) / this.slotMs) + 2}, () => new Set<Deadline>())
  }

  /** Entries waiting. */
  get size(): number {
    return this.count
  }

  /** Waits for `entry.dueMs` (at most delayMs from now). */
  add(entry: Deadline): void {
    const slot = Math.floor(entry.dueMs / this.slotMs)
    if (this.count === 0 && !this.timer) this.nextSlot = Math.floor(Date.now() / this.slotMs)
    this.slots[slot % this.slots.length]!.add(entry)
    this.count++
    this.arm()
  }

  /** Stops waiting (the connect completed, the relay closed); nothing for an entry not waiting. */
  remove(entry: Deadline): void {
    if (this.slots[Math.floor(entry.dueMs / this.slotMs) % this.slots.length]!.delete(entry)) this.count--
  }

  /** One timer for the end of the next slot, unless one is set (it re-arms itself while entries remain). */
  private arm(): void {
    if (this.timer || this.count === 0) return
    const waitMs = Math.max(0, (this.nextSlot + 1) * this.slotMs - Date.now())
    // unref: a pending deadline never keeps the process alive (the sockets it watches do, while they are open).
    this.timer = setTimeout(this.tick, waitMs).unref()
  }

  /** Runs every slot that has ended: entries due call onDue; those that ask to wait again move to their new slot. */
  private run(): void {
    this.timer = undefined
    const nowMs = Date.now()
    const lastEnded = Math.floor(nowMs / this.slotMs) - 1
    // After a long stall (a blocked event loop) one lap visits every slot: the laps before it would find nothing more.
    this.nextSlot = Math.max(this.nextSlot, lastEnded - this.slots.length + 1)
    for (; this.nextSlot <= lastEnded && this.count > 0; this.nextSlot++) {
      const slot = this.slots[this.nextSlot % this.slots.length]!
      for (const entry of slot) {
        if (entry.dueMs > nowMs) continue // a later lap's, after a stall (or one just moved here)
        slot.delete(entry)
        this.count--
        const again = entry.onDue(nowMs)
        if (again !== undefined) {
          entry.dueMs = Math.max(again, nowMs)
          this.add(entry)
        }
      }
    }
    if (this.count === 0) this.nextSlot = lastEnded + 1
    this.arm()
  }
}

const wheels = new Map<number, DeadlineWheel>()

/** The shared wheel for deadlines `delayMs` ahead. */
export function deadlineWheel(delayMs: number): DeadlineWheel {
  let wheel = wheels.get(delayMs)
  if (!wheel) wheels.set(delayMs, (wheel = new DeadlineWheel(delayMs)))
  return wheel
}
