// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time by package and by
// function, to see where the hot path spends its CPU. Usage: node dist/bench/profile-summary.js FILE
import { readFileSync } from 'node:fs'

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount: number, children?: number[] }
interface Profile { nodes: Node[], samples: number[], timeDeltas: number[] }

const file = process.argv[2]
if (file === undefined) throw new Error('usage: profile-summary FILE.cpuprofile')
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const total = profile.nodes.reduce((sum, n) => sum + n.hitCount, 0)

function where (url: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg !== null) return pkg[1] as string
  if (url.startsWith('node:')) return url
  if (url === '') return '(native/gc/idle)'
  return url.replace(/^.*\/dist\//, 'missive/')
}

const byPackage = new Map<string, number>()
const byFunction = new Map<string, number>()
for (const n of profile.nodes) {
  const pkg = where(n.callFrame.url)
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + n.hitCount)
  const fn = `${n.callFrame.functionName || '(anonymous)'} ${pkg}:${n.callFrame.lineNumber + 1}`
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + n.hitCount)
}
const top = (map: Map<string, number>, count: number): string =>
  [...map].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, hits]) => `${(100 * hits / total).toFixed(1).padStart(5)}%  ${name}`).join('\n')
process.stdout.write(`self time by package (${total} samples)\n${top(byPackage, 25)}\n\nself time by function\n${top(byFunction, 40)}\n`)
