import { randomBytes } from 'node:crypto'
import { InvalidBlock } from '../errors.js'
import { InvalidCidr, IpAllowList, normalizeCidrs } from '../auth/ip-allow-list.js'
import { type Poller, startPoller } from '../poller.js'
import type { AbuseStore, StoredBlock } from '../storage/abuse-store.js'
import { clientAddress } from './client-address.js'
import { blockDurationMs } from './ladder.js'

/** the widest network a manual block may cover (API.md section 8) */
export const WIDEST_V4_PREFIX = 16
export const WIDEST_V6_PREFIX = 32
export const MIN_BLOCK_SECONDS = 60
export const MAX_BLOCK_SECONDS = 2_592_000
/**
 * The most automatic blocks in force at once, across instances. Every instance holds them all
 * and re-reads them when they change (at most once a second): bounded, an attacker with
 * many addresses (a botnet, an IPv6 allocation's /64s) cannot grow that list, its memory and its
 * re-reads without end. Past it, a new block pushes out the one ending soonest; manual blocks
 * are not counted and never pushed out. 10 000 blocks are about 2 MB to re-read.
 */
export const MAX_AUTOMATIC_BLOCKS = 10_000

export interface BlockEvents {
  emit: (event: { type: 'block.added' | 'block.lifted', ip?: string | null, keyId?: string | null, requestId?: string | null, detail?: Record<string, string | number | boolean | null> }) => void
}

export interface BlocksOptions {
  /** how often the store's blocks version is read (default 1 s; 0: never, the key tool) */
  pollMs?: number
  now?: () => number
  /** networks never blocked (PENALTY_EXEMPT_IPS, canonical CIDRs) */
  exempt?: readonly string[]
  events?: BlockEvents
  onError?: (err: unknown) => void
  /** after each poll that reached the store */
  onRefresh?: () => void
  /** the ladder's block durations (default LADDER_DURATIONS_MS; shorter in tests) */
  durationsMs?: readonly number[]
  /** MAX_AUTOMATIC_BLOCKS (smaller in tests) */
  maxAutomatic?: number
}

export interface ManualBlock {
  cidr: string
  durationSeconds: number
  reason: string
  /** who asks: a key id, or "key-tool" */
  by: string
  /** the address the request came from: a block may not cover it (null from a shell) */
  callerIp: string | null
  requestId?: string | null
}

/** What this instance enforces: exact client addresses, and wider manual networks. */
interface Snapshot {
  readonly exact: ReadonlyMap<string, number>
  readonly networks: ReadonlyArray<{ list: IpAllowList, until: number }>
  readonly blocks: readonly StoredBlock[]
  /** when the first of these blocks ends */
  readonly nextEnd: number
}

const EMPTY: Snapshot = { exact: new Map(), networks: [], blocks: [], nextEnd: Number.POSITIVE_INFINITY }

/**
 * The blocks in force (API.md section 8), shared by every instance through the store: each
 * instance keeps a snapshot and re-reads it when the store's version moves (polled every
 * second, so a block or a lift made anywhere holds everywhere within about a second; a
 * change made here holds here at once). A missed poll cannot leave an instance behind: the
 * next one compares versions again.
 *
 * `blockedFor(ip)` is the check every request pays: a field read while no block exists, then
 * one map lookup (and a CIDR test per manual network).
 */
export class Blocks {
  private snapshot: Snapshot = EMPTY
  private version = -1
  /** moves with every change made here */
  private generation = 0
  private readonly poller: Poller | null
  private readonly now: () => number

  constructor (private readonly store: AbuseStore, private readonly options: BlocksOptions = {}) {
    this.now = options.now ?? Date.now
    this.poller = startPoller(async () => {
      await this.refresh()
      this.options.onRefresh?.()
    }, options.pollMs ?? 1000, (err) => this.options.onError?.(err))
  }

  /** Reads the blocks when the store's version moved (or on the first call). */
  async refresh (force = false): Promise<void> {
    // A change made here while this read was on its way is newer than what it read: the next
    // poll reads again (the store's version moved with that change).
    const generation = this.generation
    const version = await this.store.blocksVersion()
    if (!force && version === this.version) return
    const blocks = await this.store.listBlocks(this.now())
    if (generation !== this.generation) return
    this.apply(blocks)
    this.version = version
  }

  /** whether no block is in force here (the per-request check, before the client address is even read) */
  get empty (): boolean {
    return this.snapshot.blocks.length === 0
  }

  /** ms until the block covering this client ends; 0 when none does. */
  blockedFor (ip: string): number {
    let snapshot = this.snapshot
    if (snapshot.blocks.length === 0) return 0
    const now = this.now()
    // Blocks that ended leave the snapshot, so that requests stop paying for them.
    if (now >= snapshot.nextEnd) {
      this.apply(snapshot.blocks)
      snapshot = this.snapshot
      if (snapshot.blocks.length === 0) return 0
    }
    let until = snapshot.exact.get(clientAddress(ip)) ?? 0
    for (const network of snapshot.networks) {
      if (network.until > until && network.list.allows(ip)) until = network.until
    }
    return until > now ? until - now : 0
  }

  /** the blocks in force on this instance */
  active (): StoredBlock[] {
    const now = this.now()
    return this.snapshot.blocks.filter((b) => b.until > now)
  }

  /** The blocks in force, from the store (GET /api/v1/security/blocks). */
  async list (): Promise<StoredBlock[]> {
    return await this.store.listBlocks(this.now())
  }

  /** An automatic block at a ladder level, for a client address (clientAddress form). */
  async blockAddress (address: string, level: number, reason: string): Promise<StoredBlock> {
    const since = this.now()
    const block: StoredBlock = { id: newBlockId(), cidr: address.includes('/') ? address : `${address}/32`, reason, level, since, until: since + blockDurationMs(level, this.options.durationsMs), manual: false, by: null }
    const evicted = await this.store.putBlock(block, this.options.maxAutomatic ?? MAX_AUTOMATIC_BLOCKS)
    const gone = new Set(evicted.map((b) => b.id))
    this.change([...this.snapshot.blocks.filter((b) => !gone.has(b.id)), block])
    for (const each of evicted) {
      this.options.events?.emit({ type: 'block.lifted', ip: null, detail: { id: each.id, cidr: each.cidr, by: 'capacity' } })
    }
    this.options.events?.emit({ type: 'block.added', ip: address, detail: { id: block.id, cidr: block.cidr, level, until: new Date(block.until).toISOString(), manual: false, reason } })
    return block
  }

  /**
   * A manual block, with its guards: a CIDR (IPv6 longer than /64 is its /64), no wider than
   * /16 (IPv4) or /32 (IPv6), not covering the caller's own address nor an exempt one.
   * Throws InvalidBlock (400) naming the field.
   */
  async block (request: ManualBlock): Promise<StoredBlock> {
    let cidr: string
    try {
      const normalized = normalizeCidrs([request.cidr])
      if (normalized.length !== 1) throw new InvalidCidr(request.cidr, 'not one CIDR')
      cidr = normalized[0]!
    } catch (err) {
      if (err instanceof InvalidCidr) throw new InvalidBlock('cidr', err.message)
      throw err
    }
    const [network, prefixText] = cidr.split('/') as [string, string]
    const prefix = Number(prefixText)
    const v6 = network.includes(':')
    if (prefix < (v6 ? WIDEST_V6_PREFIX : WIDEST_V4_PREFIX)) {
      throw new InvalidBlock('cidr', `${cidr} is wider than /${v6 ? WIDEST_V6_PREFIX : WIDEST_V4_PREFIX}: block smaller networks, one at a time`)
    }
    const list = IpAllowList.from([cidr])!
    if (request.callerIp !== null && list.allows(request.callerIp)) {
      throw new InvalidBlock('cidr', `${cidr} covers the address this request comes from: an operator never blocks themselves`)
    }
    if ((this.options.exempt ?? []).some((exempt) => overlap(cidr, exempt))) {
      throw new InvalidBlock('cidr', `${cidr} covers an address in PENALTY_EXEMPT_IPS`)
    }
    if (!Number.isInteger(request.durationSeconds) || request.durationSeconds < MIN_BLOCK_SECONDS || request.durationSeconds > MAX_BLOCK_SECONDS) {
      throw new InvalidBlock('durationSeconds', `must be an integer from ${MIN_BLOCK_SECONDS} to ${MAX_BLOCK_SECONDS}`)
    }
    const since = this.now()
    const block: StoredBlock = { id: newBlockId(), cidr, reason: request.reason, level: 0, since, until: since + request.durationSeconds * 1000, manual: true, by: request.by }
    await this.store.putBlock(block)
    this.change([...this.snapshot.blocks, block])
    this.options.events?.emit({ type: 'block.added', keyId: request.by === 'key-tool' ? null : request.by, ip: request.callerIp, requestId: request.requestId ?? null, detail: { id: block.id, cidr, level: 0, until: new Date(block.until).toISOString(), manual: true, reason: request.reason, by: request.by } })
    return block
  }

  /** Lifts a block everywhere (within a poll); false when there is no such block. */
  async lift (id: string, by: string, callerIp: string | null = null, requestId: string | null = null): Promise<boolean> {
    const lifted = await this.store.removeBlock(id)
    if (lifted === null) return false
    this.change(this.snapshot.blocks.filter((b) => b.id !== id))
    this.options.events?.emit({ type: 'block.lifted', keyId: by === 'key-tool' ? null : by, ip: callerIp, requestId, detail: { id, cidr: lifted.cidr, by } })
    return true
  }

  close (): void {
    this.poller?.close()
  }

  /** A change made here: in force here at once, and newer than any read already on its way. */
  private change (blocks: readonly StoredBlock[]): void {
    this.generation += 1
    this.apply(blocks)
  }

  private apply (blocks: readonly StoredBlock[]): void {
    const now = this.now()
    const exact = new Map<string, number>()
    const networks: Array<{ list: IpAllowList, until: number }> = []
    const live = blocks.filter((b) => b.until > now)
    for (const block of live) {
      const [network, prefix] = block.cidr.split('/') as [string, string]
      // A client address's own block (an IPv4 /32, an IPv6 /64) is one lookup; wider ones a CIDR test.
      if (prefix === (network.includes(':') ? '64' : '32')) {
        const key = network.includes(':') ? block.cidr : network
        exact.set(key, Math.max(exact.get(key) ?? 0, block.until))
      } else {
        try {
          const list = IpAllowList.from([block.cidr])
          if (list !== null) networks.push({ list, until: block.until })
        } catch {
          // a stored CIDR this version cannot read: not enforced, still listed and liftable
        }
      }
    }
    this.snapshot = { exact, networks, blocks: live, nextEnd: live.reduce((first, b) => Math.min(first, b.until), Number.POSITIVE_INFINITY) }
  }
}

/** A block as the API and the key tool show it (API.md section 8): times in ISO 8601, no `by`. */
export interface BlockView { id: string, cidr: string, reason: string, level: number, since: string, until: string, manual: boolean }

export function blockView (block: StoredBlock): BlockView {
  return { id: block.id, cidr: block.cidr, reason: block.reason, level: block.level, since: new Date(block.since).toISOString(), until: new Date(block.until).toISOString(), manual: block.manual }
}

function newBlockId (): string {
  return `blk_${randomBytes(9).toString('base64url')}`
}

/** whether two canonical CIDRs share an address: one contains the other's first address */
function overlap (a: string, b: string): boolean {
  const first = (cidr: string): string => cidr.split('/')[0]!
  return IpAllowList.from([a])!.allows(first(b)) || IpAllowList.from([b])!.allows(first(a))
}
