// Whether another process still runs: serve's instance records, hosts-file blocks and locks, and lo0 alias records
// all name the pid of the serve that wrote them, and what a dead serve left is cleaned up.
import {errnoCode} from '../net/errno.js'

/**
 * The process `pid` exists: signal 0 only checks (kill(2)); EPERM means it exists and belongs to another user. A
 * pid reused by an unrelated process counts as running: what it guards is then kept, never wrongly removed.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errnoCode(error) !== 'ESRCH'
  }
}
