/**
 * What an OAuth2 / OpenID Connect provider may send back as `error` on a
 * redirect (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6), and what each
 * means to the person in the browser. The parameter arrives in the callback's
 * URL, which anyone can craft, so only these codes are ever repeated (in a
 * page, a redirect, the audit log); anything else is `provider_error`.
 */
const MEANINGS: Record<string, string> = {
  access_denied: 'access was declined at the provider',
  invalid_request: 'the provider found the request invalid',
  unauthorized_client: 'the provider does not allow this client to ask for this',
  unsupported_response_type: 'the provider does not support this kind of request',
  invalid_scope: 'the provider refused the requested scopes',
  server_error: 'the provider had an error',
  temporarily_unavailable: 'the provider is temporarily unavailable',
  interaction_required: 'the provider needs you to sign in there first',
  login_required: 'the provider needs you to sign in there first',
  account_selection_required: 'the provider needs you to choose an account',
  consent_required: 'the provider needs your consent',
  invalid_request_uri: 'the provider found the request invalid',
  invalid_request_object: 'the provider found the request invalid',
  request_not_supported: 'the provider does not support this kind of request',
  request_uri_not_supported: 'the provider does not support this kind of request',
  registration_not_supported: 'the provider does not support this kind of request',
};

/** The provider's `error` as a known code, or `provider_error`; never the raw parameter. */
export function providerErrorCode(raw: string | null | undefined): string {
  return raw && Object.hasOwn(MEANINGS, raw) ? raw : 'provider_error';
}

/** What a provider's `error` means, in words (the code is known, or it is said that the provider refused). */
export function providerErrorMeaning(raw: string | null | undefined): string {
  const code = providerErrorCode(raw);
  return code === 'provider_error' ? 'the provider refused' : MEANINGS[code]!;
}
