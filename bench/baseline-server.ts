// The baseline the benchmarks compare against: bare Fastify and ioredis with their
// defaults, no plugins, no logging, doing the same SET … EX / GET as the real hot path.
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { Redis } from 'ioredis'

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const app = Fastify({ logger: false })

app.post('/', async (request, reply) => {
  const id = randomBytes(16).toString('base64url')
  await redis.set(`baseline:${id}`, JSON.stringify(request.body), 'EX', 3600)
  return await reply.code(201).send({ id, url: `/msg/${id}` })
})

app.get<{ Params: { id: string } }>('/msg/:id', async (request, reply) => {
  const stored = await redis.get(`baseline:${request.params.id}`)
  if (stored === null) return await reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'Message not found' })
  return { id: request.params.id, ...JSON.parse(stored) }
})

app.get('/health', async () => ({ status: 'ok' }))

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3001) })
process.once('SIGTERM', () => {
  app.close().then(async () => await redis.quit()).finally(() => process.exit(0)).catch(() => process.exit(1))
})
