import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { ClientExtras } from '../lib/provider/client-extras.js';

/** The prompt values a client may send (seed 001 "Supported prompt values"). */
export const PROMPT_VALUES = ['login', 'consent', 'none'] as const;

/**
 * extraParams validator of `prompt`: a request (or PAR) with a value the client's
 * `allowed_prompts` leaves out is refused. It reads the prompts oidc-provider derived, so
 * `max_age=0`, which oidc-provider turns into `prompt=login`, counts as asking for login.
 */
export function allowedPromptsOnly(ctx: KoaContextWithOIDC, _value: string | undefined, client: unknown): void {
  const allowed = (client as ClientExtras | undefined)?.allowed_prompts;
  if (!allowed) return;
  const refused = [...ctx.oidc.prompts].filter((prompt) => !allowed.includes(prompt));
  if (refused.length) {
    throw new errors.InvalidRequest(`prompt ${refused.join(' ')} is not allowed for this client`);
  }
}
