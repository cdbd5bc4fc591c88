/** The sign-in methods, as RFC 8176 `amr` values: password and one-time passcode (email or SMS). */
export type AuthMethod = 'pwd' | 'otp';

const MFA = 'mfa';

/**
 * A session's `amr` and `acr` after one more authentication with `method`: each method once,
 * in the order first used, then `mfa` once two distinct methods were used; `acr` is `mfa`
 * then, `sfa` before. Two passcodes (email, then SMS) are one method, so still `sfa`.
 */
export function afterAuthentication(previous: readonly string[] | undefined, method: AuthMethod): { amr: string[]; acr: 'sfa' | 'mfa' } {
  const methods = [...new Set([...(previous ?? []).filter((m) => m !== MFA), method])];
  return methods.length >= 2 ? { amr: [...methods, MFA], acr: 'mfa' } : { amr: methods, acr: 'sfa' };
}
