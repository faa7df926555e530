// The peer's configuration, shared by server.js and seed.js: one
// confidential client (the bench's), opaque access tokens for one resource
// server, client_credentials, introspection, and the code flow with a
// refresh token at every exchange, as oauthd does. Nothing here is OpenID
// Connect: no `openid` scope, so no ID token is signed.
//
// Environment: DATABASE_URL, PEER_CLIENT_ID, PEER_CLIENT_SECRET.
import Provider from 'oidc-provider';

import { adapterFor, createPool } from './adapter.js';

export const ISSUER = 'http://127.0.0.1';
export const RESOURCE = 'urn:oauthd-bench:api';
export const SCOPE = 'account:read event:write';
export const REDIRECT_URI = 'http://127.0.0.1/cb';
export const ACCOUNT_ID = 'bench-user';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

export function makeProvider() {
  const pool = createPool(required('DATABASE_URL'));
  const clientId = required('PEER_CLIENT_ID');
  const provider = new Provider(ISSUER, {
    adapter: adapterFor(pool),
    clients: [{
      client_id: clientId,
      client_secret: required('PEER_CLIENT_SECRET'),
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: SCOPE,
    }],
    // oauthd's paths, so one load generator drives both servers.
    routes: {
      token: '/oauth/token',
      introspection: '/oauth/introspect',
    },
    scopes: SCOPE.split(' '),
    findAccount: (_ctx, accountId) => ({ accountId, claims: () => ({ sub: accountId }) }),
    // oauthd issues a refresh token with every code exchange.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // The codes the bench seeds carry no challenge, as oauthd's do.
    pkce: { required: () => false },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 600,
      ClientCredentials: 3600,
      Grant: 14 * 24 * 3600,
      RefreshToken: 14 * 24 * 3600,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // As oauthd answers by default: a client may introspect its own tokens.
      introspection: {
        enabled: true,
        allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId,
      },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: SCOPE,
          accessTokenFormat: 'opaque',
          accessTokenTTL: 3600,
        }),
      },
    },
  });
  return { provider, pool, clientId };
}
