// Run by `npm test` (and .ci/run) before the tests: the integration tests start their own
// throwaway redis-server (and build a local Redis Cluster with redis-cli), so both must be
// installed; Debian's redis-server package brings redis-cli with it. Installs them where it
// can (root with apt-get); otherwise stops at once with one line saying how.
import { execFileSync, spawnSync } from 'node:child_process'

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0

if (!has('redis-server') || !has('redis-cli')) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0
  if (root && has('apt-get')) {
    process.stderr.write('redis-server or redis-cli is missing: installing redis-server with apt-get\n')
    const quiet = { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }
    execFileSync('apt-get', ['update', '-qq'], quiet)
    execFileSync('apt-get', ['install', '-y', '-qq', 'redis-server'], quiet)
  } else {
    process.stderr.write('The tests need redis-server and redis-cli (>= 7): install them with `sudo apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS), then run npm test again.\n')
    process.exit(1)
  }
}
