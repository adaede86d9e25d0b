// MSV-OWNER: API.md section 2, owner-only routes: a second owner trying the first owner's
// objects gets 404 and the object is untouched. Reading a message by its id is open to any
// holder of the id by design (the id is the capability), so that is not an alarm here.
import { type Check, type Finding, fail, pass } from '../check.js'
import type { ScanResponse } from '../client.js'
import { CONTRACT_ROUTES } from '../contract.js'
import { concretePath } from '../discover.js'
import { about, bodyEvidence } from './util.js'

const OWNER_SCOPES = ['messages:read', 'messages:write', 'messages:delete']

export const ownerChecks: Check[] = [{
  id: 'MSV-OWNER-001',
  family: 'OWNER',
  title: 'Owner-only routes refuse another owner (404) and leave the object untouched',
  owasp: 'API1:2023',
  cwe: 639,
  severity: 'critical',
  profile: 'safe',
  order: 32,
  budget: 40,
  needs: 'admin',
  source: 'routes/api/v1/messages.ts',
  fix: 'owner-only routes must look objects up by owner (keyId) as well as id, and answer 404 to anyone else',
  plan: ['mint owners A and B (messages:read/write/delete); A creates a message', 'B: DELETE /api/v1/messages/:id, GET /api/v1/messages (A\'s id must not be listed), and every other owner-only route on A\'s id (receipt…) → 404', 'A still lists its message; then the same the other way round'],
  run: async (ctx) => {
    const a = await ctx.key(OWNER_SCOPES, 'owner-a')
    const b = await ctx.key(OWNER_SCOPES, 'owner-b')
    const findings: Finding[] = []
    // Each owner tries the other's message, both ways round.
    for (const [owner, other, o, x] of [[a, b, 'A', 'B'], [b, a, 'B', 'A']] as const) {
      const message = await ctx.createMessage({ content: 'missive-security owner check', maxViews: 5 }, owner)
      const expect404 = (label: string, res: ScanResponse): void => {
        const route = `${res.request.method} ${res.request.path.split('?')[0]?.replace(message.id, '{id}') ?? ''}`
        findings.push(res.status === 404
          ? pass(`${label}: 404`, route)
          : fail(`${label}: ${res.status}, not 404`, about(ctx, res, route)))
      }
      expect404(`${x} deletes ${o}'s message`, await ctx.request({ method: 'DELETE', path: `/api/v1/messages/${message.id}`, headers: { 'x-api-key': other.key } }))
      // Every owner-only route with an {id} that the target serves (receipts, and routes added later).
      const ownerRoutes = ctx.routes.filter((r) => r.auth !== null && r.path.startsWith('/api/v1/messages/{id}/') &&
        (CONTRACT_ROUTES.find((c) => c.method === r.method && c.path === r.path)?.ownerOnly ?? true) && r.method === 'GET')
      for (const route of ownerRoutes) {
        expect404(`${x} on ${route.method} ${route.path} of ${o}'s message`, await ctx.request({ method: route.method, path: concretePath(route, { id: message.id }), headers: { 'x-api-key': other.key } }))
      }
      const listOther = await ctx.request({ method: 'GET', path: '/api/v1/messages?limit=100', headers: { 'x-api-key': other.key } })
      findings.push(listOther.status === 200 && !listOther.text.includes(message.id)
        ? pass(`${x}'s list does not show ${o}'s message`, 'GET /api/v1/messages')
        : fail(listOther.status === 200 ? `${x}'s list shows ${o}'s message` : `${x}'s list answered ${listOther.status}`, about(ctx, listOther, 'GET /api/v1/messages')))
      const listOwner = await ctx.request({ method: 'GET', path: '/api/v1/messages?limit=100', headers: { 'x-api-key': owner.key } })
      findings.push(listOwner.status === 200 && listOwner.text.includes(message.id)
        ? pass(`${o}'s message is intact and listed for ${o}`, 'GET /api/v1/messages')
        : fail(`after ${x}'s attempts, ${o}'s list ${listOwner.status === 200 ? 'no longer shows the message' : `answered ${listOwner.status}`}`, { route: 'DELETE /api/v1/messages/{id}', evidence: bodyEvidence(ctx, listOwner) }))
    }
    return findings
  }
}]
