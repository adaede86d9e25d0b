import t from 'tap'
import { Type } from '@sinclair/typebox'
import { schemaCompilers } from '../src/server-options.js'
import { build } from './helper.js'

// Every app a process builds compiles the same route schemas (module constants); the compiled
// functions are kept per schema object, so a second app (the tests build hundreds) compiles none.

t.test('a serializer is compiled once per schema object, for every app of the process', async (t) => {
  const schema = Type.Object({ id: Type.String(), n: Type.Integer() })
  const first = schemaCompilers.serializer({}, {})({ schema, httpStatus: '200' })
  const again = schemaCompilers.serializer({}, {})({ schema, httpStatus: '201' })
  t.equal(again, first, 'the same function for the same schema object')
  t.equal(first({ id: 'a', n: 2, extra: true }), '{"id":"a","n":2}', 'and it serializes as the schema says')
  const other = schemaCompilers.serializer({}, {})({ schema: Type.Object({ id: Type.String() }) })
  t.not(other, first, 'another schema object: its own')
  t.not(schemaCompilers.serializer({}, { rounding: 'floor' })({ schema }), first, 'other options: compiled again')
})

t.test('a validator is compiled once per schema object and part: a body is never coerced', async (t) => {
  const schema = Type.Object({ n: Type.Integer() })
  const query = schemaCompilers.validator({})({ schema, httpPart: 'querystring', method: 'GET', url: '/' } as never) as (data: unknown) => boolean
  t.equal(schemaCompilers.validator({})({ schema, httpPart: 'querystring', method: 'GET', url: '/x' } as never), query, 'the same function')
  const body = schemaCompilers.validator({})({ schema, httpPart: 'body', method: 'POST', url: '/' } as never) as (data: unknown) => boolean
  t.not(body, query)
  t.ok(query({ n: '5' }), 'a querystring is coerced ("5" → 5)')
  t.notOk(body({ n: '5' }), 'a body is not')
})

t.test('two apps in one process answer with the same schemas, errors included', async (t) => {
  for (let i = 0; i < 2; i++) {
    const app = await build(t)
    const created = await app.inject({ method: 'POST', url: '/', payload: { content: 'hello' } })
    t.equal(created.statusCode, 201)
    t.match(created.json(), { id: String, deleteToken: String })
    const refused = await app.inject({ method: 'POST', url: '/', payload: { content: 42 } })
    t.equal(refused.statusCode, 400)
  }
})
