import {
  isInnerList,
  parseDictionary,
  parseItem,
  parseList,
  serializeDictionary,
  serializeInnerList,
  serializeItem,
  serializeList,
  type InnerList,
  type Parameters
} from 'structured-headers'

/**
 * An HTTP message as the signature base sees it. A request has `method` and `targetUri` (the
 * absolute URI the client sent it to: scheme, authority, then path and query exactly as
 * received); a response has `status`.
 */
export interface HttpMessage {
  method?: string
  targetUri?: string
  status?: number
  /** lowercase names, as Node gives them */
  headers: Record<string, string | string[] | undefined>
}

/** A signature that cannot be checked or does not hold. `reason` is for logs, never for the client. */
export class SignatureError extends Error {
  constructor (readonly reason: string) {
    super(`HTTP message signature: ${reason}`)
    this.name = 'SignatureError'
  }
}

type StructuredType = 'dictionary' | 'list' | 'item'

/**
 * Fields whose structured type is known (RFC 9421 §2.1.1: `sf` on any other field is an error).
 * Example-Dict is the RFC's own example field.
 */
const STRUCTURED_FIELDS: Readonly<Record<string, StructuredType>> = {
  'accept-signature': 'dictionary',
  'cache-status': 'list',
  'client-cert': 'item',
  'client-cert-chain': 'list',
  'content-digest': 'dictionary',
  'example-dict': 'dictionary',
  priority: 'dictionary',
  'proxy-status': 'list',
  'repr-digest': 'dictionary',
  signature: 'dictionary',
  'signature-input': 'dictionary',
  'want-content-digest': 'dictionary',
  'want-repr-digest': 'dictionary'
}

// A component value must be ASCII and one line (RFC 9421 §2.5 steps 2.4 and 4); HTAB is field-content.
const VALUE = /^[\t\x20-\x7e]*$/

/**
 * RFC 9421 §2.5: the signature base of `message` for the covered components `covered` (the
 * Inner List of Signature-Input, with its parameters). Throws SignatureError when a component
 * cannot be resolved: a missing field, an unknown derived component or parameter, one listed
 * twice, or `req` / `tr` (responses to signed requests and trailers are not supported).
 */
export function signatureBase (message: HttpMessage, covered: InnerList): string {
  const seen = new Set<string>()
  let base = ''
  for (const [name, params] of covered[0]) {
    if (typeof name !== 'string') throw new SignatureError('a covered component is not a String')
    const identifier = serializeItem(name, params)
    // Parameter order does not make a component distinct (§2): compare them sorted.
    const key = serializeItem(name, new Map([...params].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)))
    if (seen.has(key)) throw new SignatureError(`component ${identifier} is listed twice`)
    seen.add(key)
    const value = name.startsWith('@') ? derivedValue(message, name, params) : fieldValue(message, name, params)
    if (!VALUE.test(value)) throw new SignatureError(`component ${identifier} is not one line of ASCII`)
    base += `${identifier}: ${value}\n`
  }
  return base + `"@signature-params": ${serializeInnerList(covered)}`
}

function onlyParams (params: Parameters, allowed: readonly string[], component: string): void {
  for (const [param] of params) {
    if (param === 'req' || param === 'tr') throw new SignatureError(`the ${param} parameter is not supported (${component})`)
    if (!allowed.includes(param)) throw new SignatureError(`unknown parameter ${param} on ${component}`)
  }
}

function flag (params: Parameters, name: string, component: string): boolean {
  const value = params.get(name)
  if (value === undefined) return false
  if (value !== true) throw new SignatureError(`the ${name} parameter of ${component} is not a true Boolean`)
  return true
}

function fieldValue (message: HttpMessage, name: string, params: Parameters): string {
  if (name === '' || name !== name.toLowerCase()) throw new SignatureError(`field name "${name}" is not lowercase`)
  onlyParams(params, ['sf', 'key', 'bs'], name)
  const sf = flag(params, 'sf', name)
  const bs = flag(params, 'bs', name)
  const key = params.get('key')
  if (key !== undefined && typeof key !== 'string') throw new SignatureError(`the key parameter of ${name} is not a String`)
  if (bs && (sf || key !== undefined)) throw new SignatureError(`bs cannot be combined with sf or key (${name})`)

  const raw = message.headers[name]
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
  if (values.length === 0) throw new SignatureError(`the ${name} field is missing`)
  // §2.1: strip each value and replace obsolete line folding with a space.
  const lines = values.map((value) => value.replace(/[ \t]*\r?\n[ \t]+/g, ' ').trim())

  if (bs) return serializeList(lines.map((line) => [Buffer.from(line, 'latin1'), new Map()]))
  const combined = lines.join(', ')
  if (!sf && key === undefined) return combined

  const type = STRUCTURED_FIELDS[name]
  if (type === undefined) throw new SignatureError(`the structured type of ${name} is not known`)
  try {
    if (key !== undefined) {
      if (type !== 'dictionary') throw new SignatureError(`${name} is not a Dictionary`)
      const member = parseDictionary(combined).get(key)
      if (member === undefined) throw new SignatureError(`${name} has no member ${key}`)
      return isInnerList(member) ? serializeInnerList(member) : serializeItem(member)
    }
    switch (type) {
      case 'dictionary': return serializeDictionary(parseDictionary(combined))
      case 'list': return serializeList(parseList(combined))
      case 'item': return serializeItem(parseItem(combined))
    }
  } catch (err) {
    if (err instanceof SignatureError) throw err
    throw new SignatureError(`${name} is not a valid structured field`)
  }
}

interface TargetParts { scheme: string, authority: string, path: string, query: string | null }

/** The target URI's parts as received (§2.2: path and query are not decoded nor normalized). */
function target (message: HttpMessage, component: string): TargetParts {
  if (message.status !== undefined) throw new SignatureError(`${component} needs a request (req is not supported)`)
  const uri = message.targetUri
  const parts = uri === undefined ? null : /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$/.exec(uri)
  if (uri === undefined || parts === null) throw new SignatureError('the request has no absolute target URI')
  let authority: string
  try {
    // WHATWG URL lowercases the host and drops the scheme's default port (§2.2.3).
    authority = new URL(uri).host
  } catch {
    throw new SignatureError('the request has no absolute target URI')
  }
  return { scheme: parts[1]!.toLowerCase(), authority, path: parts[3] === '' ? '/' : parts[3]!, query: parts[4] ?? null }
}

function derivedValue (message: HttpMessage, name: string, params: Parameters): string {
  onlyParams(params, name === '@query-param' ? ['name'] : [], name)
  switch (name) {
    case '@method':
      if (message.method === undefined || message.status !== undefined) throw new SignatureError('@method needs a request')
      return message.method
    case '@target-uri':
      target(message, name)
      return message.targetUri!
    case '@authority': return target(message, name).authority
    case '@scheme': return target(message, name).scheme
    case '@request-target': {
      const { path, query } = target(message, name)
      return query === null ? path : `${path}?${query}`
    }
    case '@path': return target(message, name).path
    case '@query': return `?${target(message, name).query ?? ''}`
    case '@query-param': return queryParam(target(message, name).query ?? '', params.get('name'))
    case '@status':
      if (message.status === undefined || !Number.isInteger(message.status) || message.status < 100 || message.status > 999) {
        throw new SignatureError('@status needs a response')
      }
      return String(message.status)
    default:
      throw new SignatureError(`unknown derived component ${name}`)
  }
}

/**
 * §2.2.8: the named parameter of an application/x-www-form-urlencoded query, both name and
 * value re-encoded (spaces as %20, as the RFC's examples show). A name that occurs twice is refused.
 */
function queryParam (query: string, name: unknown): string {
  if (typeof name !== 'string') throw new SignatureError('@query-param needs a name String parameter')
  const found = [...new URLSearchParams(query)].filter(([paramName]) => formEncode(paramName) === name)
  if (found.length !== 1) throw new SignatureError(`@query-param ${name} ${found.length === 0 ? 'is missing' : 'occurs more than once'}`)
  return formEncode(found[0]![1])
}

/** Percent-encodes all but ASCII alphanumerics and *-._ (the urlencoded set), UTF-8 first. */
function formEncode (text: string): string {
  let out = ''
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte)
    out += /[A-Za-z0-9*._-]/.test(c) ? c : '%' + byte.toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}
