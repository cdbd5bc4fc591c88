import { createHash, randomBytes } from 'node:crypto';
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
}

/** `src_interaction`: 256 random bits, base64url. */
export const SRC_INTERACTION = /^[A-Za-z0-9_-]{43}$/;

// only a hash of the handle is stored: a store dump reveals no live handle
const requestKey = (handle: string) => `consent-request:${createHash('sha256').update(handle).digest('base64url')}`;
const decisionKey = (uid: string) => `consent-decision:${uid}`;

/**
 * The `src_interaction` handles of seed 000. A handle is a bearer capability for one answer:
 * it is random (not the interaction uid, which appears in IdP URLs), used once, and dies with
 * its interaction. The answer is parked under the interaction uid and only takes effect when
 * the browser holding that interaction's cookie comes back for it.
 */
export class ConsentRequests {
  constructor(private readonly store: Store) {}

  async open(request: ConsentRequest): Promise<string> {
    const handle = randomBytes(32).toString('base64url');
    await this.store.putJSON(requestKey(handle), request, remaining(request.expires_at));
    return handle;
  }

  /** The open request behind a handle, without using it up. */
  async peek(handle: string): Promise<ConsentRequest | undefined> {
    return this.store.getJSON<ConsentRequest>(requestKey(handle));
  }

  /** Uses the handle up and parks the answer; undefined when the handle is unknown, expired or used. */
  async decide(handle: string, approved: boolean): Promise<ConsentDecision | undefined> {
    const request = await this.store.takeJSON<ConsentRequest>(requestKey(handle));
    if (!request || request.expires_at <= epochSeconds()) return undefined;
    const decision: ConsentDecision = { ...request, approved, decided_at: epochSeconds() };
    // one answer per interaction, even when it was sent to the consent page more than once
    const first = await this.store.createJSON(decisionKey(request.uid), decision, remaining(request.expires_at));
    return first ? decision : undefined;
  }

  /** The parked answer for an interaction, handed out once. */
  async takeDecision(uid: string): Promise<ConsentDecision | undefined> {
    return this.store.takeJSON<ConsentDecision>(decisionKey(uid));
  }
}

const remaining = (expiresAt: number) => Math.max(1, expiresAt - epochSeconds());
