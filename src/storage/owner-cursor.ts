// Pagination of an owner's messages, newest first: the cursor is the (createdAt, id) of
// the last item returned, so pages stay stable while messages are added or expire.

export interface CursorPosition { readonly createdAt: number, readonly id: string }

export function newestFirst (a: CursorPosition, b: CursorPosition): number {
  return b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
}

export function encodeCursor (position: CursorPosition): string {
  return Buffer.from(`${position.createdAt}.${position.id}`).toString('base64url')
}

/** null for anything that is not a cursor this service made */
export function decodeCursor (cursor: string): CursorPosition | null {
  const match = /^(\d{1,15})\.([A-Za-z0-9_-]{22})$/.exec(Buffer.from(cursor, 'base64url').toString())
  return match === null ? null : { createdAt: Number(match[1]), id: match[2] as string }
}
