import {describe, expect, it} from 'vitest'
import {createLogger, useColor} from '../src/log.js'

function capture(options: Parameters<typeof createLogger>[0] = {}) {
  const lines: string[] = []
  const log = createLogger({
    write: (t) => lines.push(t),
    color: false,
    now: () => new Date('2026-11-26T15:00:00Z'),
    ...options,
  })
  return {log, lines}
}

describe('createLogger', () => {
  it('writes text lines, warnings prefixed, debug only from verbosity 1', () => {
    const quiet = capture()
    quiet.log.info('route added: x')
    quiet.log.warn('port 53 needs privilege')
    quiet.log.debug('connection from 127.0.0.1')
    expect(quiet.lines).toEqual(['route added: x\n', 'warning: port 53 needs privilege\n'])
    const verbose = capture({verbosity: 1})
    verbose.log.debug('connection from 127.0.0.1')
    expect(verbose.lines).toEqual(['connection from 127.0.0.1\n'])
  })

  it('writes one JSON object per line with --log-format json', () => {
    const {log, lines} = capture({format: 'json'})
    log.info('target down: node-a', {event: 'target-down'})
    log.warn('careful')
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      {time: '2026-11-26T15:00:00.000Z', level: 'info', msg: 'target down: node-a', event: 'target-down'},
      {time: '2026-11-26T15:00:00.000Z', level: 'warn', msg: 'careful'},
    ])
  })

  it('colours only when asked', () => {
    const {log, lines} = capture({color: true})
    log.warn('x')
    log.info('y')
    expect(lines).toEqual(['\u001b[33mwarning: x\u001b[0m\n', 'y\n'])
  })
})

describe('useColor', () => {
  it.each<[boolean, NodeJS.ProcessEnv, boolean]>([
    [true, {}, true],
    [false, {}, false],
    [true, {NO_COLOR: '1'}, false],
    [true, {NO_COLOR: ''}, true],
    [true, {TERM: 'dumb'}, false],
  ])('TTY %s with %j → %s', (isTTY, env, expected) => {
    expect(useColor({isTTY}, env)).toBe(expected)
  })
})
