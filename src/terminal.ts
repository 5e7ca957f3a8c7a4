// Text from the cluster on a terminal. Names, annotations, event messages and LB hostnames are written by whoever
// can edit the cluster; shown raw, their control characters could move the cursor, retitle the window (OSC 0),
// plant links (OSC 8), write the clipboard (OSC 52; https://invisible-island.net/xterm/ctlseqs/ctlseqs.html) or
// reorder what is read (bidi overrides, https://trojansource.codes). Every text renderer passes them through here;
// JSON output and the dashboard escape on their own.

/** C0 controls but the newline, DEL, C1 controls, and the bidi marks, embeddings, overrides and isolates. */
const CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g
const CONTROLS_AND_NEWLINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

function escapeOne(char: string): string {
  const code = char.charCodeAt(0)
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
}

/** `text` with every control character written as `\xHH` or `\uHHHH`, newlines included (one table cell, one line). */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS_AND_NEWLINE, escapeOne)
}

/** Like escapeControls, but keeps newlines: for messages of several lines that this program wrote itself. */
export function escapeControlsKeepingLines(text: string): string {
  return text.replace(CONTROLS, escapeOne)
}
