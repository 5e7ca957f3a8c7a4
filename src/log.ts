// Logs for humans and machines, on stderr (stdout is data). Text by default, coloured only on a TTY and never
// with NO_COLOR (https://no-color.org); `--log-format json` writes one JSON object per line for log shippers.
import {escapeControlsKeepingLines} from './terminal.js'

export type LogFormat = 'text' | 'json'
type Level = 'error' | 'warn' | 'info' | 'debug'

export interface Logger {
  /** Transitions worth knowing: route added, target down, watch lost. Always shown. */
  info(message: string, fields?: Record<string, unknown>): void
  /** Something the user may want to fix; the rest keeps working. */
  warn(message: string, fields?: Record<string, unknown>): void
  /** Per-connection detail: shown from verbosity 1 (-v). */
  debug(message: string, fields?: Record<string, unknown>): void
  readonly verbosity: number
}

export interface LoggerOptions {
  format?: LogFormat
  verbosity?: number
  /** Defaults to process.stderr. */
  write?: (text: string) => void
  color?: boolean
  /** Clock for JSON timestamps (tests pass a fixed one). */
  now?: () => Date
}

const COLORS: Record<Level, string> = {error: '\u001b[31m', warn: '\u001b[33m', info: '', debug: '\u001b[2m'}
const RESET = '\u001b[0m'

/** Whether colour suits this stream: a TTY, NO_COLOR unset or empty, and not TERM=dumb. */
export function useColor(stream: {isTTY?: boolean}, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb'
}

/** Colours a whole line (an `error:` line on stderr, say) when colour is on. */
export function paint(level: Level, text: string, color: boolean): string {
  return color && COLORS[level] ? `${COLORS[level]}${text}${RESET}` : text
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? 'text'
  const verbosity = options.verbosity ?? 0
  const write = options.write ?? ((text: string) => void process.stderr.write(text))
  const color = options.color ?? useColor(process.stderr)
  const now = options.now ?? (() => new Date())
  const emit = (level: Level, message: string, fields?: Record<string, unknown>) => {
    if (level === 'debug' && verbosity < 1) return
    if (format === 'json') {
      write(`${JSON.stringify({time: now().toISOString(), level, msg: message, ...fields})}\n`)
      return
    }
    const safe = escapeControlsKeepingLines(message)
    const text = level === 'warn' ? `warning: ${safe}` : safe
    write(`${paint(level, text, color)}\n`)
  }
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    debug: (m, f) => emit('debug', m, f),
    verbosity,
  }
}
