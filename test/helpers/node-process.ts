import { type ChildProcess, type ChildProcessByStdio, type ChildProcessWithoutNullStreams, type SpawnOptions, type SpawnOptionsWithoutStdio, type SpawnOptionsWithStdioTuple, spawn, type StdioNull, type StdioPipe } from 'node:child_process'
import type { Readable } from 'node:stream'

/**
 * `node args…` as its own process, started as a person (or `npm start`) starts it: without the
 * test runner's loader. tap hooks every spawn of a test process and adds its process-info
 * loader to the child's NODE_OPTIONS (it records what each process loads, for coverage and
 * `tap --changed`, neither of which the tests use): that costs a child ~0.35 s of CPU before
 * its first line, and a server ~1 s more, as every module it loads goes through the loader.
 * `env -u NODE_OPTIONS` drops it after the hook; NODE_OPTIONS given in `options.env` is kept.
 */
export function spawnNode (args: string[], options: SpawnOptionsWithoutStdio): ChildProcessWithoutNullStreams
export function spawnNode (args: string[], options: SpawnOptionsWithStdioTuple<StdioNull, StdioPipe, StdioPipe>): ChildProcessByStdio<null, Readable, Readable>
export function spawnNode (args: string[], options?: SpawnOptions): ChildProcess
export function spawnNode (args: string[], options: SpawnOptions = {}): ChildProcess {
  const [command, ...rest] = nodeCommand(args, options.env?.NODE_OPTIONS)
  return spawn(command as string, rest, options)
}

/** The command line spawnNode runs (for a child started some other way: a shell, script(1)). */
export function nodeCommand (args: string[], nodeOptions?: string): string[] {
  return ['env', '-u', 'NODE_OPTIONS', ...(nodeOptions === undefined ? [] : [`NODE_OPTIONS=${nodeOptions}`]), process.execPath, ...args]
}
