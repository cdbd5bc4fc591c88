import type { ClientExtras } from '../lib/provider/client-extras.js';

/** Third-party clients (seed 000) need the user's explicit consent; first-party apps of the tenant never ask. */
export function isThirdParty(client: unknown): boolean {
  return (client as ClientExtras | undefined)?.third_party === true;
}
