import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../../adapters/store.js';
import { epochSeconds } from '../time.js';

/** One question put to the Consent URI: may `client_id` have `scopes` of `user_id`? */
export interface ConsentRequest {
  /** the oidc-provider interaction waiting for the answer */
  uid: string;
  client_id: string;
  user_id: string;
  /** exactly the scopes shown to the consent page; an approval grants these and nothing else */
  scopes: string[];
  /** IdP path where the browser that started the flow picks the answer up */
  continue_path: string;
  expires_at: number;
}

export interface ConsentDecision extends ConsentRequest {
  approved: boolean;
  decided_at: number;
  /** set when the browser itself answered: the same browser must pick the answer up */
  browser_binding?: string;
}

/** `src_interaction`: 256 random bits, base64url. */
export const SRC_INTERACTION = /^[A-Za-z0-9_-]{43}$/;

// only a hash of the handle is stored: a store dump reveals no live handle
const requestKey = (handle: string) => `consent-request:${createHash('sha256').update(handle).digest('base64url')}`;
const decisionKey = (uid: string) => `consent-decision:${uid}`;
/** 'applied' or 'cancelled': written once, an interaction's answer is settled for good */
const settledKey = (uid: string) => `consent-settled:${uid}`;

/**
 * The `src_interaction` handles of seed 000. A handle is a bearer capability for one answer:
 * it is random (not the interaction uid, which appears in IdP URLs) and dies with its
 * interaction. The answer is parked under the interaction uid and only takes effect when the
 * browser holding that interaction's cookie comes back for it.
 *
 * An interaction takes one answer. A second one (the same handle again, or another handle
 * sent for the same interaction) is refused and cancels the parked answer too: when two
 * parties answer, neither is trusted.
 */
export class ConsentRequests {
  constructor(private readonly store: Store) {}

  async open(request: ConsentRequest): Promise<string> {
    const handle = randomBytes(32).toString('base64url');
    await this.store.putJSON(requestKey(handle), request, remaining(request.expires_at));
    return handle;
  }

  /** The open request behind a handle. */
  async peek(handle: string): Promise<ConsentRequest | undefined> {
    const request = await this.store.getJSON<ConsentRequest>(requestKey(handle));
    return request && request.expires_at > epochSeconds() ? request : undefined;
  }

  /** Parks the answer; undefined when the handle is unknown or expired, or the interaction was answered before. */
  async decide(handle: string, approved: boolean, browserBinding?: string): Promise<ConsentDecision | undefined> {
    const request = await this.peek(handle);
    if (!request) return undefined;
    const decision: ConsentDecision = { ...request, approved, decided_at: epochSeconds(), browser_binding: browserBinding };
    const ttl = remaining(request.expires_at);
    if (await this.store.createJSON(decisionKey(request.uid), decision, ttl)) return decision;
    await this.store.createJSON(settledKey(request.uid), 'cancelled', ttl);
    return undefined;
  }

  /**
   * The parked answer for an interaction, handed out once and never after a second answer.
   * An answer given by a browser is only handed to the browser that holds its binding cookie.
   */
  async takeDecision(uid: string, presentedBinding: string | undefined): Promise<ConsentDecision | undefined> {
    const decision = await this.store.getJSON<ConsentDecision>(decisionKey(uid));
    if (!decision) return undefined;
    if (decision.browser_binding && !sameDigest(decision.browser_binding, presentedBinding)) return undefined;
    const first = await this.store.createJSON(settledKey(uid), 'applied', remaining(decision.expires_at));
    return first ? decision : undefined;
  }
}

const remaining = (expiresAt: number) => Math.max(1, expiresAt - epochSeconds());

/** Cookie set on a browser that answers by navigation; scoped to the interaction's continue path. */
export const ANSWER_COOKIE = '_consent_answer';

/** A fresh browser binding: the cookie value, and the digest kept with the answer. */
export function newBrowserBinding(): { cookie: string; digest: string } {
  const cookie = randomBytes(32).toString('base64url');
  return { cookie, digest: createHash('sha256').update(cookie).digest('base64url') };
}

function sameDigest(digest: string, cookie: string | undefined): boolean {
  if (!cookie) return false;
  const presented = createHash('sha256').update(cookie).digest();
  return timingSafeEqual(presented, Buffer.from(digest, 'base64url'));
}
