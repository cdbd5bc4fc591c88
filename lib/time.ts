/** Seconds since the epoch: the unit of every timestamp the IdP stores and returns. */
export const epochSeconds = (): number => Math.floor(Date.now() / 1000);
