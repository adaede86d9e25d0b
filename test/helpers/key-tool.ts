import { main } from '../../scripts/keys.js'

/** Runs the key tool in-process; stdout must be written only through `out` (anything else lands in `stray`). */
export async function runKeyTool (argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number, out: string[], err: string[], stray: string }> {
  const out: string[] = []
  const err: string[] = []
  let stray = ''
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string | Uint8Array) => { stray += String(chunk); return true }) as typeof process.stdout.write
  try {
    const code = await main(argv, env, { out: (line) => out.push(line), err: (line) => err.push(line) })
    return { code, out, err, stray }
  } finally {
    process.stdout.write = write
  }
}
