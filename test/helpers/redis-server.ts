// The throwaway redis-server lives in scripts/lib so the benchmarks can use it too.
export { freePort, RedisServer } from '../../scripts/lib/redis-server.js'
