import t from 'tap'
import { ID_IN_PATH, maskIds } from '../src/server-options.js'
import { newMessageId } from '../src/ids.js'

// maskIds is a hand-written scan of what ID_IN_PATH describes: the two must agree on every URL.
const byRegExp = (url: string): string => url.replace(ID_IN_PATH, '/$1…')

t.test('an id in a path keeps its first four characters', async (t) => {
  const id = newMessageId()
  t.equal(maskIds(`/msg/${id}`), `/msg/${id.slice(0, 4)}…`)
  t.equal(maskIds(`/msg/${id}/receipt`), `/msg/${id.slice(0, 4)}…/receipt`)
  t.equal(maskIds(`/api/v1/messages/${id}?x=1#f`), `/api/v1/messages/${id.slice(0, 4)}…?x=1#f`)
  t.equal(maskIds(`/${id}/${id}`), `/${id.slice(0, 4)}…/${id.slice(0, 4)}…`, 'two ids in a row, sharing the slash between them')
  t.equal(maskIds(`/msg/${id}x`), `/msg/${id}x`, 'a longer segment is not an id')
  t.equal(maskIds(`/msg/${id.slice(1)}`), `/msg/${id.slice(1)}`, 'nor a shorter one')
  t.equal(maskIds(`/msg/${id.slice(0, 10)}.${id.slice(11)}`), `/msg/${id.slice(0, 10)}.${id.slice(11)}`, 'nor one with a character outside base64url')
  t.equal(maskIds('/'), '/')
  t.equal(maskIds(''), '')
})

t.test('the scan and the regular expression agree', async (t) => {
  const alphabet = ['a', 'Z', '0', '-', '_', '/', '?', '#', '.', '%', '…']
  let disagreements = 0
  // xorshift32: reproducible, and unlike a small LCG its low bits do not repeat in short cycles
  let seed = 2_463_534_242
  const random = (n: number): number => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5
    return (seed >>> 0) % n
  }
  for (let i = 0; i < 20_000; i++) {
    // mostly runs of id characters with separators between, so id-shaped segments are common
    let url = ''
    const parts = 1 + random(4)
    for (let p = 0; p < parts; p++) {
      url += alphabet[5 + random(6)]
      url += random(2) === 0 ? newMessageId().slice(0, 20 + random(4)) : Array.from({ length: random(30) }, () => alphabet[random(5)]).join('')
    }
    if (maskIds(url) !== byRegExp(url)) disagreements++
  }
  t.equal(disagreements, 0, 'on 20 000 generated URLs')
})
