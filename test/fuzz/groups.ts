/**
 * Every endpoint group the fuzzers cover, with its share of the runs. `FUZZ_RUNS` is the
 * total over all groups (`npm run fuzz`: 100000); `npm test` runs DEFAULT_TOTAL. Groups that
 * hash a password on most requests (scrypt, by design) get a smaller share.
 */
const WEIGHTS = {
  authorization: 2,
  token: 3,
  par: 1,
  revocationAndIntrospection: 2,
  userinfo: 1,
  logout: 1,
  backchannel: 1,
  device: 2,
  discovery: 0.5,
  consentCallback: 1,
  backchannelComplete: 1,
  backendAuth: 1,
  selfService: 1,
  hostedLogin: 1,
  managementUsers: 1,
  managementApplications: 2,
  managementOther: 1,
  /** concurrent batches on one user, each with several password hashes */
  records: 0.25,
} as const;

export type Group = keyof typeof WEIGHTS;

const DEFAULT_TOTAL = 3000;

/** This group's share of FUZZ_RUNS (at least one run). */
export function runsOf(group: Group): number {
  const total = Number(process.env.FUZZ_RUNS) || DEFAULT_TOTAL;
  const weights = Object.values(WEIGHTS).reduce((sum, weight) => sum + weight, 0);
  return Math.max(1, Math.round((total * WEIGHTS[group]) / weights));
}

/** A jest timeout for a group's test: generous per run, since a run may hash a password. */
export const timeoutOf = (group: Group) => 60_000 + runsOf(group) * 200;
