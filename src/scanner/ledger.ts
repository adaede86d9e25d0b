// The cleanup ledger: everything the run made, undone at the end, on failure and on Ctrl-C.
// The client keeps one request per entry in reserve, so the cap never strands an entry.
import type { ScanClient } from './client.js'

export type LedgerEntry =
  | { kind: 'message', id: string, deleteToken: string, ownerKey?: string }
  | { kind: 'key', id: string, adminKey: string }
  | { kind: 'token', token: string, keyId: string | null }

export class Ledger {
  private entries: LedgerEntry[] = []
  /** entries whose undo failed, with the reason */
  readonly leftBehind: Array<{ entry: LedgerEntry, reason: string }> = []

  constructor (private readonly client: ScanClient) {}

  get size (): number { return this.entries.length }

  add (entry: LedgerEntry): void {
    this.entries.push(entry)
    this.client.reserved++
  }

  /** Forgets an entry the run already undid itself (a deleted message, a revoked key). */
  settle (match: (e: LedgerEntry) => boolean): void {
    const before = this.entries.length
    this.entries = this.entries.filter((e) => !match(e))
    this.client.reserved -= before - this.entries.length
  }

  /** Undoes every pending entry: tokens first (a revoked key's tokens are already dead), then messages, then keys. */
  async undo (): Promise<void> {
    const rank = { token: 0, message: 1, key: 2 }
    const pending = [...this.entries].sort((a, b) => rank[a.kind] - rank[b.kind])
    const revokedKeys = new Set(pending.filter((e) => e.kind === 'key').map((e) => e.id))
    for (const entry of pending) {
      // A token of a key revoked in this undo dies with it; presenting it would count as a failed authentication.
      if (entry.kind === 'token' && entry.keyId !== null && revokedKeys.has(entry.keyId)) { this.settle((e) => e === entry); continue }
      let reason: string | null
      try {
        reason = await this.undoOne(entry)
      } catch (err) {
        reason = (err as Error).message
      }
      this.settle((e) => e === entry)
      this.client.reserved = Math.max(0, this.client.reserved)
      if (reason !== null) this.leftBehind.push({ entry, reason })
    }
  }

  private async undoOne (entry: LedgerEntry): Promise<string | null> {
    const expect = (status: number, ok: number[]): string | null => ok.includes(status) ? null : `answered ${status}`
    switch (entry.kind) {
      case 'token': {
        const res = await this.client.request({ method: 'POST', path: '/api/v1/auth/revoke', cleanup: true, headers: { authorization: `Bearer ${entry.token}` } })
        // 401: the token was already refused (revoked or expired), which is the goal.
        return expect(res.status, [200, 204, 401])
      }
      case 'message': {
        const res = entry.ownerKey === undefined
          ? await this.client.request({ method: 'DELETE', path: `/msg/${entry.id}`, cleanup: true, headers: { 'x-delete-token': entry.deleteToken } })
          : await this.client.request({ method: 'DELETE', path: `/api/v1/messages/${entry.id}`, cleanup: true, headers: { 'x-api-key': entry.ownerKey } })
        // 404: already burned or deleted.
        return expect(res.status, [204, 404])
      }
      case 'key': {
        const res = await this.client.request({ method: 'DELETE', path: `/api/v1/keys/${entry.id}`, cleanup: true, headers: { 'x-api-key': entry.adminKey } })
        return expect(res.status, [204])
      }
    }
  }
}
