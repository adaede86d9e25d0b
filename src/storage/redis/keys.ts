// Key names. The {…} hash tag keeps a message's keys in one Redis Cluster slot.
export const messageKey = (id: string): string => `msg:{${id}}`
export const viewsKey = (id: string): string => `msg:{${id}}:views`
export const ownerIndexKey = (keyId: string): string => `owner:{${keyId}}:msgs`
