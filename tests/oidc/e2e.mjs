// The stock openid-client (panva) as a relying party of a running oauthd.
//
// Run by the Rust test `openid_client` (tests/it/openid_client.rs, with
// OAUTHD_OPENID_CLIENT_TESTS=1), which starts oauthd with signing keys,
// makes the user (with a name and a verified email) and registers the
// confidential client with its redirect and post-logout redirect URIs. This
// script, with nothing oauthd-specific in the relying party's calls:
//
// 1. discovers the provider (/.well-known/openid-configuration);
// 2. builds the authorization URL with PKCE S256, a nonce and a state, signs
//    in and approves on oauthd's pages over plain HTTP, as a browser would;
// 3. exchanges the code: openid-client validates the ID token (signature
//    against the JWKS, iss, aud, exp, iat, nonce, and auth_time when max_age
//    was sent);
// 4. calls UserInfo and checks its claims against the ID token's subject;
// 5. refreshes and gets a new ID token for the same subject;
// 6. sees a wrong expected nonce and a wrong expected state refused;
// 7. logs out through end_session_endpoint with id_token_hint and a
//    registered post_logout_redirect_uri, comes back with the state, and then
//    prompt=none answers login_required.
//
// Prints "openid-client e2e passed" and exits 0, or exits 1 saying what failed.

import * as oidc from 'openid-client';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const OAUTHD = env('OAUTHD_URL');
const CLIENT_ID = env('CLIENT_ID');
const CLIENT_SECRET = env('CLIENT_SECRET');
const REDIRECT = env('REDIRECT_URI');
const POST_LOGOUT = env('POST_LOGOUT_REDIRECT_URI');
const USERNAME = env('OAUTHD_USERNAME');
const PASSWORD = env('OAUTHD_PASSWORD');
const NAME = env('EXPECT_NAME');
const EMAIL = env('EXPECT_EMAIL');

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

// --- The browser's part: sign in and approve over HTTP ----------------------

const jar = new Map();
function remember(res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i), pair.slice(i + 1));
  }
}
function cookies() {
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}
async function browse(url, init = {}) {
  const res = await fetch(url, {
    ...init,
    redirect: 'manual',
    headers: { ...(init.headers ?? {}), cookie: cookies() },
  });
  remember(res);
  return res;
}
function hidden(html, name) {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  check(m, `hidden field ${name} in the page`);
  return m[1].replaceAll('&amp;', '&').replaceAll('&#x2f;', '/').replaceAll('&#47;', '/');
}
const form = (fields) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

// Follows oauthd's pages from `url` until they send the browser to `target`:
// signs in when asked, approves when asked. Returns the final URL.
async function visit(url, target) {
  let res = await browse(url);
  for (let step = 0; step < 8; step++) {
    if (res.status === 302 || res.status === 303) {
      const next = new URL(res.headers.get('location'), OAUTHD);
      if (next.href.startsWith(target)) return next;
      if (next.pathname === '/login') {
        res = await browse(next.href);
        check(res.status === 200, `the login page (got ${res.status})`);
        const csrf = hidden(await res.text(), 'csrf');
        res = await browse(`${OAUTHD}/login`, form({
          username: USERNAME,
          password: PASSWORD,
          csrf,
          next: next.searchParams.get('next') ?? '/',
        }));
        continue;
      }
      res = await browse(next.href);
      continue;
    }
    if (res.status === 200) {
      const page = await res.text();
      check(page.includes('name="request_id"'), `a consent page (got: ${page.slice(0, 200)})`);
      res = await browse(`${OAUTHD}/oauth/authorize`, form({
        request_id: hidden(page, 'request_id'),
        csrf: hidden(page, 'csrf'),
        decision: 'approve',
      }));
      continue;
    }
    throw new Error(`unexpected answer ${res.status} from ${res.url || url}`);
  }
  throw new Error(`never reached ${target}`);
}

// --- The relying party -------------------------------------------------------

async function signIn(config, extra = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const nonce = oidc.randomNonce();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: 'openid profile email',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
    ...extra,
  });
  const back = await visit(url.href, REDIRECT);
  return { back, verifier, nonce, state };
}

async function refused(promise, what) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error(`check failed: ${what} was accepted`);
}

async function main() {
  const config = await oidc.discovery(
    new URL(OAUTHD),
    CLIENT_ID,
    CLIENT_SECRET,
    oidc.ClientSecretBasic(CLIENT_SECRET),
    { execute: [oidc.allowInsecureRequests] },
  );
  const server = config.serverMetadata();
  check(server.issuer === OAUTHD, `issuer ${server.issuer}`);
  check(server.userinfo_endpoint, 'userinfo_endpoint in discovery');
  check(server.end_session_endpoint, 'end_session_endpoint in discovery');

  // The code flow, with max_age so auth_time must come back.
  const first = await signIn(config, { max_age: '300' });
  const tokens = await oidc.authorizationCodeGrant(config, first.back, {
    pkceCodeVerifier: first.verifier,
    expectedNonce: first.nonce,
    expectedState: first.state,
    idTokenExpected: true,
    maxAge: 300,
  });
  const claims = tokens.claims();
  check(claims, 'an ID token');
  check(claims.nonce === first.nonce, 'the nonce round-trips');
  check(typeof claims.auth_time === 'number', 'auth_time in the ID token');
  check(claims.sub && claims.sub !== USERNAME, 'sub is set and is not the username');
  check(claims.aud === CLIENT_ID || (Array.isArray(claims.aud) && claims.aud.includes(CLIENT_ID)), 'aud');

  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  check(info.sub === claims.sub, 'UserInfo sub matches the ID token');
  check(info.name === NAME, `UserInfo name (${info.name})`);
  check(info.preferred_username === USERNAME, 'UserInfo preferred_username');
  check(info.email === EMAIL && info.email_verified === true, 'UserInfo email');
  await refused(
    oidc.fetchUserInfo(config, tokens.access_token, 'someone-else'),
    'a UserInfo answer for another subject',
  );

  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  check(refreshed.access_token && refreshed.access_token !== tokens.access_token, 'a new access token');
  const again = refreshed.claims();
  check(again && again.sub === claims.sub, 'the refresh brings an ID token for the same subject');
  check(again.auth_time === claims.auth_time, 'auth_time is kept across a refresh');

  // The session and the consent now exist: a second sign-in comes straight
  // back. A relying party expecting another nonce or state refuses it.
  const second = await signIn(config);
  await refused(
    oidc.authorizationCodeGrant(config, second.back, {
      pkceCodeVerifier: second.verifier,
      expectedNonce: oidc.randomNonce(),
      expectedState: second.state,
      idTokenExpected: true,
    }),
    'an ID token with another nonce',
  );
  const third = await signIn(config);
  await refused(
    oidc.authorizationCodeGrant(config, third.back, {
      pkceCodeVerifier: third.verifier,
      expectedNonce: third.nonce,
      expectedState: oidc.randomState(),
      idTokenExpected: true,
    }),
    'a response with another state',
  );

  // Logout: back at the registered URI with the state, and oauthd's session
  // is over.
  const end = oidc.buildEndSessionUrl(config, {
    id_token_hint: refreshed.id_token,
    post_logout_redirect_uri: POST_LOGOUT,
    state: 'signed-out',
  });
  const out = await visit(end.href, POST_LOGOUT);
  check(out.searchParams.get('state') === 'signed-out', 'the logout state comes back');
  const silent = await signIn(config, { prompt: 'none' });
  check(
    silent.back.searchParams.get('error') === 'login_required',
    `prompt=none after logout answers login_required (got ${silent.back.href})`,
  );
  const error = await refused(
    oidc.authorizationCodeGrant(config, silent.back, {
      pkceCodeVerifier: silent.verifier,
      expectedNonce: silent.nonce,
      expectedState: silent.state,
    }),
    'a login_required response',
  );
  check(error.error === 'login_required', `openid-client reports login_required (${error.error})`);

  console.log('openid-client e2e passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
