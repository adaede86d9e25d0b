// Key names. The {…} hash tag keeps a message's keys in one Redis Cluster slot.
export const messageKey = (id: string): string => `msg:{${id}}`
export const viewsKey = (id: string): string => `msg:{${id}}:views`
export const ownerIndexKey = (keyId: string): string => `owner:{${keyId}}:msgs`

// API keys: a key's record and its lastUsedAt guard share the key id's slot.
export const apiKeyKey = (keyId: string): string => `apikey:{${keyId}}`
export const apiKeyTouchedKey = (keyId: string): string => `apikey:{${keyId}}:touched`
/** the set of every key id, for listing */
export const apiKeyIndexKey = 'apikeys:index'
/** bumped on every revocation or rotation; instances poll it to drop their caches */
export const apiKeyEpochKey = 'apikeys:epoch'
export const deniedTokenKey = (jti: string): string => `jwt:deny:{${jti}}`
export const authFailuresKey = (ip: string): string => `authfail:{${ip}}`
/** every issuer (token-signing) key, one field per `<alg>:<rotationMs>:<sealTag>:<period>`: one hash, so one slot */
export const issuerKeysKey = '{missive-issuer}:keys'
