import { errors } from 'oidc-provider';

/**
 * The library checks `consumed` and then calls `consume()`: two requests racing on one code
 * both pass the check. Our adapters consume atomically and the loser gets the same OAuth
 * error a sequential replay would (never a 500).
 */
export function alreadyConsumed(model: string): Error {
  if (model === 'PushedAuthorizationRequest') {
    return new errors.InvalidRequestUri('request_uri has already been used');
  }
  return new errors.InvalidGrant('grant has already been used');
}

/** True for the error `alreadyConsumed` makes: a lost consume, not a store failure. */
export function isAlreadyConsumed(err: unknown): boolean {
  return err instanceof errors.InvalidGrant || err instanceof errors.InvalidRequestUri;
}
