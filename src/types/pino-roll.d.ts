// pino-roll ships no types: the part of its API this project uses.
declare module 'pino-roll' {
  import type { DestinationStream } from 'pino'
  interface PinoRollOptions {
    file: string | (() => string)
    frequency?: 'daily' | 'hourly' | number
    dateFormat?: string
    size?: string | number
    mkdir?: boolean
    limit?: { count?: number, removeOtherLogFiles?: boolean }
    symlink?: boolean
    /** passed to sonic-boom: buffer this many bytes before writing */
    minLength?: number
    /** passed to sonic-boom: the most bytes one write may carry */
    maxWrite?: number
  }
  export default function pinoRoll (options: PinoRollOptions): Promise<DestinationStream & { end: () => void, flush: (cb?: (err?: Error) => void) => void, flushSync: () => void }>
}
