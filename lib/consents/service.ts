import type { Store } from '../../adapters/store.js';
import { revokeGrant } from '../grants/service.js';
import { ApiError, conflict, notFound } from '../http/errors.js';
import { epochSeconds } from '../time.js';
import { uuidv7 } from '../ids.js';

/** A user's standing agreement that one third-party client may use some scopes (seed 000). */
export interface Consent {
  consent_id: string;
  user_id: string;
  client_id: string;
  scopes: string[];
  granted_at: number;
  expires_at: number;
}

export type ReceiptEvent = 'granted' | 'denied' | 'revoked' | 'expired';

/** Who caused an event: the user (consent page or self-service), an admin client, or expiry. */
export type Actor = { type: 'user'; id: string } | { type: 'admin'; id: string } | { type: 'system' };

/** An immutable record of one consent event, kept for `ttl.consentReceipt` (what privacy law asks a first party to show). */
export interface ConsentReceipt {
  receipt_id: string;
  event: ReceiptEvent;
  consent_id?: string;
  user_id: string;
  client_id: string;
  /** the scopes this event was about (approved, declined, revoked or expired) */
  scopes: string[];
  at: number;
  expires_at?: number;
  actor: Actor;
}

export interface ConsentFilter {
  user_id?: string;
  client_id?: string;
}

/*
 * Keys (below the store prefix):
 *   consent:<id>                        Consent, removed at revocation or by the expiry sweep
 *   consent-grants:<id>                 ids of the oidc-provider Grants issued under it (one per session)
 *   consent-of:<user>:<client>          -> id of the user's consent for that client
 *   consents, consents-of-user:<u>, consents-of-client:<c>        id sets
 *   consent-expiry                      schedule of ids by expires_at
 *   consent-receipt:<id>                ConsentReceipt, expires after the retention period
 *   consent-receipts-of-user:<u>, consent-receipts-of-client:<c>  id sets
 */
const consentKey = (id: string) => `consent:${id}`;
const grantsOf = (id: string) => `consent-grants:${id}`;
const pairKey = (userId: string, clientId: string) => `consent-of:${userId}:${clientId}`;
const ALL_CONSENTS = 'consents';
const consentsOfUser = (userId: string) => `consents-of-user:${userId}`;
const consentsOfClient = (clientId: string) => `consents-of-client:${clientId}`;
const EXPIRY_SCHEDULE = 'consent-expiry';
const receiptKey = (id: string) => `consent-receipt:${id}`;
const receiptsOfUser = (userId: string) => `consent-receipts-of-user:${userId}`;
const receiptsOfClient = (clientId: string) => `consent-receipts-of-client:${clientId}`;

const SWEEP_BATCH = 100;
/** A swept consent not finished within this time (the instance died) is handed out again. */
const SWEEP_LEASE = 300;
/** Attempts at winning the (user, client) index against a concurrent approval. */
const APPROVAL_ATTEMPTS = 5;
const CONTENDED_WAIT_MS = 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const CONSENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ApprovalInput {
  user_id: string;
  client_id: string;
  /** the scopes the user approved just now */
  approved: string[];
  expires_at: number;
  actor: Actor;
}

/**
 * Stored third-party consents, their receipts and their expiry.
 *
 * A consent is the user's standing agreement; oidc-provider Grants are per authorization
 * session and are what tokens depend on. Each Grant made under a consent is registered with
 * it and expires with it, so logging out of one browser (which ends that session's Grant)
 * leaves the consent intact, while revoking the consent destroys every one of its Grants and
 * so every code, access and refresh token issued under it.
 */
export class ConsentService {
  constructor(private readonly store: Store, private readonly receiptTtl: number) {}

  /** The user's unexpired consent for the client, if any. */
  async findActive(userId: string, clientId: string): Promise<Consent | undefined> {
    const id = await this.store.lookup(pairKey(userId, clientId));
    return id ? this.find(id) : undefined;
  }

  /**
   * Records a Grant as issued under a consent. False (and the Grant destroyed) when the
   * consent was revoked meanwhile: revocation deletes the record before it reads the Grant
   * list, and this adds to the list before it reads the record, so one of them sees the other.
   */
  async attachGrant(consent: Consent, grantId: string): Promise<boolean> {
    await this.store.setAdd(grantsOf(consent.consent_id), grantId);
    if (await this.store.getJSON<Consent>(consentKey(consent.consent_id))) return true;
    await revokeGrant(this.store, grantId);
    return false;
  }

  async hasGrant(consent: Consent, grantId: string): Promise<boolean> {
    return (await this.store.setMembers(grantsOf(consent.consent_id))).includes(grantId);
  }

  /**
   * Records an approval: the user's consent for the client now also covers `approved` and
   * lasts until `expires_at`. Concurrent approvals of one user and client end in one consent.
   * The caller then attaches the authorization's Grant (attachGrant).
   * The record is changed only at the revision it was read at (never written back over a
   * concurrent approval, a revocation or the sweep): on a lost race, read again and merge.
   */
  async recordApproval(input: ApprovalInput): Promise<Consent> {
    const pair = pairKey(input.user_id, input.client_id);
    for (let attempt = 1; ; attempt += 1) {
      const currentId = await this.store.lookup(pair);
      const read = currentId ? await this.store.readJSON<Consent>(consentKey(currentId)) : undefined;
      if (currentId && !read && attempt < APPROVAL_ATTEMPTS) {
        // claimed by a concurrent approval that has not written its record yet (or being
        // revoked): wait for it rather than take the index from it
        await sleep(CONTENDED_WAIT_MS * attempt);
        continue;
      }
      const current = read && read.value.expires_at > epochSeconds() ? read.value : undefined;
      if (currentId && !current) {
        // the index points at an expired consent (the sweep writes its receipt), or still at
        // a missing one after waiting (a crash mid-revocation): free it
        await this.store.release(pair, currentId);
      }
      const consent: Consent = {
        consent_id: current?.consent_id ?? uuidv7(),
        user_id: input.user_id,
        client_id: input.client_id,
        scopes: [...new Set([...(current?.scopes ?? []), ...input.approved])],
        granted_at: epochSeconds(),
        expires_at: input.expires_at,
      };
      const written = current
        ? await this.store.replaceJSON(consentKey(consent.consent_id), read!.revision, consent)
        // a new id: its record cannot exist yet, once the index is ours
        : await this.store.claim(pair, consent.consent_id) && await this.store.createJSON(consentKey(consent.consent_id), consent);
      if (written) {
        await this.index(consent);
        await this.addReceipt('granted', consent, input.approved, input.actor);
        return consent;
      }
      // another approval won the index or changed the consent, or it was revoked: read again
      if (attempt >= APPROVAL_ATTEMPTS) throw conflict('The consent is being changed by other requests; try again');
    }
  }

  async recordDenial(userId: string, clientId: string, scopes: string[], actor: Actor): Promise<void> {
    await this.addReceipt('denied', { user_id: userId, client_id: clientId }, scopes, actor);
  }

  async find(consentId: string): Promise<Consent | undefined> {
    if (!CONSENT_ID.test(consentId)) return undefined;
    const consent = await this.store.getJSON<Consent>(consentKey(consentId));
    return consent && consent.expires_at > epochSeconds() ? consent : undefined;
  }

  async get(consentId: string): Promise<Consent> {
    const consent = await this.find(consentId);
    if (!consent) throw notFound('Consent');
    return consent;
  }

  /** Unexpired consents, optionally of one user and/or one client, oldest first. */
  async list(filter: ConsentFilter): Promise<Consent[]> {
    const ids = await this.store.setMembers(filter.user_id ? consentsOfUser(filter.user_id)
      : filter.client_id ? consentsOfClient(filter.client_id) : ALL_CONSENTS);
    const now = epochSeconds();
    return (await this.store.getManyJSON<Consent>(ids.map(consentKey)))
      .filter((c): c is Consent => c !== undefined && c.expires_at > now && matches(c, filter))
      .sort((a, b) => a.granted_at - b.granted_at || (a.consent_id < b.consent_id ? -1 : 1));
  }

  /** Ends a consent now: its Grants and every code, access and refresh token under them stop working. */
  async revoke(consentId: string, actor: Actor): Promise<void> {
    // taking the record is atomic: of concurrent revocations, one proceeds and writes the receipt
    const consent = CONSENT_ID.test(consentId) ? await this.store.takeJSON<Consent>(consentKey(consentId)) : undefined;
    if (!consent || consent.expires_at <= epochSeconds()) throw notFound('Consent');
    await this.remove(consent);
    await this.addReceipt('revoked', consent, consent.scopes, actor);
  }

  async revokeAll(filter: ConsentFilter, actor: Actor): Promise<void> {
    for (const consent of await this.list(filter)) {
      await this.revoke(consent.consent_id, actor).catch((err: unknown) => {
        if (!(err instanceof ApiError && err.status === 404)) throw err; // revoked meanwhile
      });
    }
  }

  /**
   * Writes an `expired` receipt for every consent past its expiry and removes it. Runs on a
   * timer in every instance; the schedule leases each due consent to one instance, and a
   * lease that is not finished (the instance died) runs out and is taken again. A consent is
   * removed only at the revision read (a renewal meanwhile keeps it) and never written back
   * (a revocation meanwhile stays).
   */
  async sweepExpired(now = epochSeconds()): Promise<number> {
    let expired = 0;
    for (;;) {
      const due = await this.store.takeDue(EXPIRY_SCHEDULE, now, SWEEP_BATCH, SWEEP_LEASE);
      for (const id of due) {
        const read = await this.store.readJSON<Consent>(consentKey(id));
        const consent = read?.value;
        if (consent && consent.expires_at > now) {
          // renewed since it was scheduled: due at its new expiry
          await this.store.schedule(EXPIRY_SCHEDULE, id, consent.expires_at);
          continue;
        }
        // changed meanwhile (renewed, or revoked): the lease brings it back to the next sweep
        if (consent && !(await this.store.removeJSON(consentKey(id), read.revision))) continue;
        if (consent) {
          await this.remove(consent);
          await this.addReceipt('expired', consent, consent.scopes, { type: 'system' }, consent.expires_at);
          expired += 1;
        }
        await this.store.unschedule(EXPIRY_SCHEDULE, id);
      }
      if (due.length < SWEEP_BATCH) return expired;
    }
  }

  /** Receipts of one user and/or one client, in the order they happened. */
  async receipts(filter: ConsentFilter): Promise<ConsentReceipt[]> {
    const index = filter.user_id ? receiptsOfUser(filter.user_id) : receiptsOfClient(filter.client_id!);
    const ids = await this.store.setMembers(index);
    const found = await this.store.getManyJSON<ConsentReceipt>(ids.map(receiptKey));
    // receipts past retention are gone; forget their ids too
    await Promise.all(ids.filter((_, i) => !found[i]).map((id) => this.store.setRemove(index, id)));
    return found
      .filter((r): r is ConsentReceipt => r !== undefined && matches(r, filter))
      // receipt ids are time-ordered: they settle events within the same second
      .sort((a, b) => a.at - b.at || (a.receipt_id < b.receipt_id ? -1 : 1));
  }

  /** The indexes and the expiry schedule of a consent just written. */
  private async index(consent: Consent): Promise<void> {
    await Promise.all([
      this.store.setAdd(ALL_CONSENTS, consent.consent_id),
      this.store.setAdd(consentsOfUser(consent.user_id), consent.consent_id),
      this.store.setAdd(consentsOfClient(consent.client_id), consent.consent_id),
      this.store.schedule(EXPIRY_SCHEDULE, consent.consent_id, consent.expires_at),
    ]);
  }

  /** Everything but the record itself, which the caller has already taken. */
  private async remove(consent: Consent): Promise<void> {
    for (const grantId of await this.store.setMembers(grantsOf(consent.consent_id))) await revokeGrant(this.store, grantId);
    await this.store.delete([grantsOf(consent.consent_id)]);
    await Promise.all([
      this.store.release(pairKey(consent.user_id, consent.client_id), consent.consent_id),
      this.store.setRemove(ALL_CONSENTS, consent.consent_id),
      this.store.setRemove(consentsOfUser(consent.user_id), consent.consent_id),
      this.store.setRemove(consentsOfClient(consent.client_id), consent.consent_id),
      this.store.unschedule(EXPIRY_SCHEDULE, consent.consent_id),
    ]);
  }

  private async addReceipt(
    event: ReceiptEvent,
    subject: { user_id: string; client_id: string; consent_id?: string; expires_at?: number },
    scopes: string[],
    actor: Actor,
    at = epochSeconds(),
  ): Promise<void> {
    const receipt: ConsentReceipt = {
      receipt_id: uuidv7(),
      event,
      consent_id: subject.consent_id,
      user_id: subject.user_id,
      client_id: subject.client_id,
      scopes,
      at,
      expires_at: event === 'granted' ? subject.expires_at : undefined,
      actor,
    };
    await this.store.putJSON(receiptKey(receipt.receipt_id), receipt, this.receiptTtl);
    await Promise.all([
      this.store.setAdd(receiptsOfUser(receipt.user_id), receipt.receipt_id),
      this.store.setAdd(receiptsOfClient(receipt.client_id), receipt.receipt_id),
    ]);
  }
}

function matches(record: { user_id: string; client_id: string }, filter: ConsentFilter): boolean {
  return (!filter.user_id || record.user_id === filter.user_id) && (!filter.client_id || record.client_id === filter.client_id);
}
