// What reaches a terminal comes from the sender (the text, a file's name and type) or from a
// server (its error messages): a control character in it could move the cursor, rewrite what
// is on the screen, set the window title or worse. Those characters are shown as visible
// escapes instead: `\u001b` (the six characters), never the byte itself.

// C0 controls but \t and \n, DEL, and the C1 controls (U+0080–U+009F: U+009B is a CSI on its own)
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g
// the same, \t and \n included: for what must stay on one line
// eslint-disable-next-line no-control-regex
const CONTROLS_AND_BREAKS = /[\u0000-\u001f\u007f-\u009f]/g

const visible = (ch: string): string => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`

/** `text` for a terminal: every control but \n and \t as a visible `\uXXXX`. */
export function forTerminal (text: string): string {
  return text.replace(CONTROLS, visible)
}

/** `text` inside one line (a name, a type, a server's message): \n and \t escaped too. */
export function oneLine (text: string): string {
  return text.replace(CONTROLS_AND_BREAKS, visible)
}
