import { Type, type Static } from '@sinclair/typebox'
import { MAX_BLOCK_SECONDS, MIN_BLOCK_SECONDS } from '../src/abuse/blocks.js'

const Timestamp = Type.String({ format: 'date-time' })

export const BlockSchema = Type.Object({
  id: Type.String({ description: 'the block\'s id, for DELETE' }),
  cidr: Type.String({ description: 'the network blocked: an IPv4 /32 or an IPv6 /64 for one client, wider for a manual block' }),
  reason: Type.String(),
  level: Type.Integer({ minimum: 0, maximum: 5, description: 'the ladder level of an automatic block (1: 1 min … 5: 24 h); 0 for a manual block' }),
  since: Timestamp,
  until: Timestamp,
  manual: Type.Boolean()
}, { additionalProperties: false, title: 'Block' })
export type BlockItem = Static<typeof BlockSchema>

export const BlockListSchema = Type.Object({ items: Type.Array(BlockSchema) }, { additionalProperties: false })

export const CreateBlockBodySchema = Type.Object({
  cidr: Type.String({ minLength: 1, maxLength: 64, description: 'an address or a network: IPv4 /16 or longer, IPv6 /32 or longer (longer than /64 is its /64); never the caller\'s own address' }),
  durationSeconds: Type.Integer({ minimum: MIN_BLOCK_SECONDS, maximum: MAX_BLOCK_SECONDS }),
  reason: Type.String({ minLength: 1, maxLength: 200 })
}, { additionalProperties: false })
export type CreateBlockBody = Static<typeof CreateBlockBodySchema>

// Any id up to a sane length: an unknown one is 404, whatever it looks like.
export const BlockIdParamsSchema = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })
