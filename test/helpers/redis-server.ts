// The throwaway redis-server lives in scripts/lib so the benchmarks can use it too.
export { freePort, PortTakenError, RedisServer } from '../../scripts/lib/redis-server.js'
