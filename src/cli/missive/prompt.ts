// Asking for a passphrase. Never from an argument (shell history, `ps`): on the terminal with
// echo off, or from stdin when the caller says so (--passphrase-stdin). /dev/tty rather than
// stdin, so that `missive send --passphrase-prompt < secret.txt` can still ask.
//
// Tests only: with NODE_ENV=test, MISSIVE_TEST_PASSPHRASES ("one\ntwo") answers the prompts in
// turn, and the prompts go to stderr; an answer that is the single character U+0004 (what
// Ctrl-D on an empty line sends) cancels, as on a terminal. Outside tests the variable is ignored.
import { closeSync, openSync, writeSync } from 'node:fs'
import { StringDecoder } from 'node:string_decoder'
import { ReadStream } from 'node:tty'
import { CliError, EXIT } from './errors.js'

export interface Prompter {
  /** the answer, or throws: NoTerminal, or CliError(cancelled) */
  ask: (question: string) => Promise<string>
  /** a line for the person at the prompt (not an error) */
  say: (line: string) => void
}

/** there is no terminal to ask on (a pipe, a cron job) */
export class NoTerminal extends Error { override name = 'NoTerminal' }

/** the test hook's "Ctrl-D on an empty line" */
const CANCEL = '\u0004'

export function prompterFor (env: NodeJS.ProcessEnv, stderr: (line: string) => void): Prompter {
  const scripted = env.NODE_ENV === 'test' ? env.MISSIVE_TEST_PASSPHRASES : undefined
  if (scripted !== undefined) {
    const answers = scripted.split('\n')
    return {
      ask: async (question) => {
        stderr(question)
        const answer = answers.shift()
        if (answer === undefined) throw new NoTerminal('no more test passphrases')
        if (answer === CANCEL) throw new CliError(EXIT.cancelled, 'cancelled')
        return answer
      },
      say: stderr
    }
  }
  return { ask: askOnTerminal, say: (line) => { writeToTerminal(`${line}\n`, stderr) } }
}

function writeToTerminal (text: string, fallback: (line: string) => void): void {
  let fd: number | null = null
  try {
    fd = openSync('/dev/tty', 'w')
    writeSync(fd, text)
  } catch {
    fallback(text.replace(/\n$/, ''))
  } finally {
    if (fd !== null) closeSync(fd)
  }
}

/** Reads one line on the controlling terminal in raw mode: nothing is echoed. */
async function askOnTerminal (question: string): Promise<string> {
  let inFd: number | null = null
  let outFd: number | null = null
  try {
    inFd = openSync('/dev/tty', 'r')
    outFd = openSync('/dev/tty', 'w')
  } catch {
    if (inFd !== null) closeSync(inFd)
    // (no /dev/tty, as on Windows: stdin itself when it is a terminal)
    if (process.stdin.isTTY) return await askOn(question, process.stdin as ReadStream, (text) => process.stderr.write(text), false)
    throw new NoTerminal('no terminal')
  }
  const fd = outFd
  try {
    return await askOn(question, new ReadStream(inFd), (text) => writeSync(fd, text), true)
  } finally {
    closeSync(fd)
  }
}

async function askOn (question: string, input: ReadStream, write: (text: string) => void, own: boolean): Promise<string> {
  try {
    // (raw mode, echo off, before the question shows: an answer typed as soon as it appears
    // must not be echoed)
    input.setRawMode(true)
    write(question)
    return await readHidden(input)
  } finally {
    input.setRawMode(false)
    write('\n')
    if (own) input.destroy() // closes its descriptor
  }
}

/** What a raw terminal sends, turned into a line: Enter ends it, Backspace edits it. */
async function readHidden (input: ReadStream): Promise<string> {
  return await new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8')
    let answer: string[] = []
    let escape = false
    const done = (error: Error | null): void => {
      input.off('data', onData)
      input.off('error', onError)
      input.pause()
      if (error === null) resolve(answer.join(''))
      else reject(error)
    }
    const onError = (err: Error): void => { done(new NoTerminal(err.message)) }
    const onData = (chunk: Buffer): void => {
      for (const ch of decoder.write(chunk)) {
        if (escape) {
          // an escape sequence (arrow keys…): skip it up to its final letter or ~
          if (/[A-Za-z~]/.test(ch)) escape = false
        } else if (ch === '\r' || ch === '\n') {
          done(null)
          return
        } else if (ch === '\u0003' || (ch === '\u0004' && answer.length === 0)) {
          done(new CliError(EXIT.cancelled, 'cancelled'))
          return
        } else if (ch === '\u0004') {
          done(null)
          return
        } else if (ch === '\u007f' || ch === '\b') {
          answer = answer.slice(0, -1)
        } else if (ch === '\u0015') {
          answer = [] // Ctrl-U: start over
        } else if (ch === '\u001b') {
          escape = true
        } else if (ch >= ' ') {
          answer.push(ch)
        }
      }
    }
    input.on('data', onData)
    input.on('error', onError)
    input.resume()
  })
}
