import {describe, expect, it} from 'vitest'
import {escapeControls, escapeControlsKeepingLines} from '../src/terminal.js'

describe('escapeControls', () => {
  it.each<[string, string, string]>([
    ['plain text and non-Latin letters stay', 'radarr — Ünïcødé 雷达', 'radarr — Ünïcødé 雷达'],
    ['ESC of an SGR sequence', '\u001b[31mred', '\\x1b[31mred'],
    ['OSC 0 ended by BEL', '\u001b]0;title\u0007', '\\x1b]0;title\\x07'],
    ['C1 CSI and DEL', '\u009b2J\u007f', '\\x9b2J\\x7f'],
    ['bidi override and isolate', '\u202eabc\u2066', '\\u202eabc\\u2066'],
    ['a newline and a tab in a cell', 'a\nb\tc', 'a\\x0ab\\x09c'],
  ])('%s', (_case, input, output) => {
    expect(escapeControls(input)).toBe(output)
  })

  it('keeps newlines, and only newlines, for messages of several lines', () => {
    expect(escapeControlsKeepingLines('line 1\nline\u001b 2\r')).toBe('line 1\nline\\x1b 2\\x0d')
  })
})
