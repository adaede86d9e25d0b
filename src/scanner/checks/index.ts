// Every check of the scanner, in no particular order (the runner orders them by `order`).
import type { Check } from '../check.js'
import { authChecks } from './auth.js'
import { burnChecks } from './burn.js'
import { cleanChecks } from './clean.js'
import { corsChecks } from './cors.js'
import { errorChecks } from './errors.js'
import { headerChecks } from './headers.js'
import { inputChecks } from './input.js'
import { oracleChecks } from './oracle.js'
import { ownerChecks } from './owner.js'
import { randChecks } from './rand.js'
import { rateChecks } from './rate.js'
import { scopeChecks } from './scopes.js'
import { tlsChecks } from './tls.js'

export const allChecks: readonly Check[] = [
  ...tlsChecks,
  ...authChecks,
  ...scopeChecks,
  ...ownerChecks,
  ...burnChecks,
  ...oracleChecks,
  ...randChecks,
  ...inputChecks,
  ...corsChecks,
  ...headerChecks,
  ...errorChecks,
  ...rateChecks,
  ...cleanChecks
]
