// The official MCP TypeScript SDK against a running oauthd.
//
// Run by the Rust test `mcp_sdk` (tests/it/mcp_sdk.rs, with
// OAUTHD_MCP_SDK_TESTS=1), which starts oauthd, makes the user, and registers the
// resource server's client and resource. This script:
//
// 1. serves a tiny MCP-style protected resource on RS_PORT: its RFC 9728
//    metadata names oauthd, `/mcp` answers 401 with `resource_metadata`
//    until it gets a token that oauthd's introspection shows active with its
//    own URI in `aud`;
// 2. runs the SDK's `auth()` with an in-memory provider: discovery (RFC 9728,
//    then RFC 8414), dynamic registration (RFC 7591), the authorization URL
//    with PKCE S256 and `resource`;
// 3. signs in and approves on oauthd's pages over plain HTTP, as a browser
//    would;
// 4. runs `auth()` again with the code (exchange), calls `/mcp`, then once
//    more to refresh, and calls `/mcp` with the new token.
//
// With CIMD_PORT, CIMD_CERT and CIMD_KEY set (a PEM leaf certificate for
// 127.0.0.1 and its key, issued by a test CA that oauthd trusts through
// client_metadata.extra_root_certificates), the client identifies itself by a
// Client ID Metadata Document instead: this script serves the document over
// https at https://127.0.0.1:CIMD_PORT/client.json, the provider's
// `clientMetadataUrl` names it, and the SDK must use that URL as its
// client_id with no dynamic registration.
//
// Prints "mcp sdk e2e passed" (or "mcp sdk cimd e2e passed") and exits 0, or
// exits 1 saying what failed.

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { auth, extractResourceMetadataUrl } from '@modelcontextprotocol/sdk/client/auth.js';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const OAUTHD = env('OAUTHD_URL');
const RS_PORT = Number(env('RS_PORT'));
const RS_CLIENT_ID = env('RS_CLIENT_ID');
const RS_CLIENT_SECRET = env('RS_CLIENT_SECRET');
const USERNAME = env('OAUTHD_USERNAME');
const PASSWORD = env('OAUTHD_PASSWORD');

const RS = `http://127.0.0.1:${RS_PORT}`;
const RESOURCE = `${RS}/mcp`;
const REDIRECT = 'http://127.0.0.1:33418/callback';
const CIMD = Boolean(process.env.CIMD_PORT);
const DOCUMENT_URL = CIMD ? `https://127.0.0.1:${Number(env('CIMD_PORT'))}/client.json` : undefined;
const CLIENT_NAME = CIMD ? 'MCP SDK CIMD e2e' : 'MCP SDK e2e';

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

// --- The protected resource --------------------------------------------------

const metadata = {
  resource: RESOURCE,
  authorization_servers: [OAUTHD],
  scopes_supported: ['account:read'],
  bearer_methods_supported: ['header'],
};
let accepted = 0;

async function introspect(token) {
  const basic = Buffer.from(
    `${encodeURIComponent(RS_CLIENT_ID)}:${encodeURIComponent(RS_CLIENT_SECRET)}`,
  ).toString('base64');
  const res = await fetch(`${OAUTHD}/oauth/introspect`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${basic}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }),
  });
  check(res.status === 200, `introspection answers 200, got ${res.status}`);
  return res.json();
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.url === '/.well-known/oauth-protected-resource/mcp'
      || req.url === '/.well-known/oauth-protected-resource') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(metadata));
      return;
    }
    if (req.url === '/mcp') {
      const challenge = `Bearer resource_metadata="${RS}/.well-known/oauth-protected-resource/mcp"`;
      const header = req.headers.authorization ?? '';
      const token = header.startsWith('Bearer ') ? header.slice(7) : null;
      const info = token ? await introspect(token) : { active: false };
      const aud = Array.isArray(info.aud) ? info.aud : info.aud ? [info.aud] : [];
      // Only a token whose audience is this resource.
      if (!info.active || !aud.includes(RESOURCE)) {
        res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_token' }));
        return;
      }
      accepted += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, user: info.username }));
      return;
    }
    res.writeHead(404);
    res.end();
  } catch (e) {
    res.writeHead(500);
    res.end(String(e));
  }
});

// --- The client metadata document (CIMD runs only) --------------------------

let documentFetches = 0;
const documentServer = CIMD
  ? https.createServer({
    cert: fs.readFileSync(env('CIMD_CERT')),
    key: fs.readFileSync(env('CIMD_KEY')),
  }, (req, res) => {
    if (req.url !== '/client.json') {
      res.writeHead(404);
      res.end();
      return;
    }
    documentFetches += 1;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=600' });
    res.end(JSON.stringify({
      client_id: DOCUMENT_URL,
      client_name: CLIENT_NAME,
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    }));
  })
  : null;

// --- The in-memory client provider ------------------------------------------

class MemoryProvider {
  constructor() {
    this.info = undefined;
    this.saved = undefined;
    this.verifier = undefined;
    this.authorizationUrl = undefined;
    this.discovery = undefined;
  }
  get redirectUrl() { return REDIRECT; }
  // Set only in CIMD runs: the SDK then uses it as client_id when the
  // authorization server's metadata says client_id_metadata_document_supported.
  get clientMetadataUrl() { return DOCUMENT_URL; }
  get clientMetadata() {
    return {
      client_name: CLIENT_NAME,
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    };
  }
  state() { return 'mcp-sdk-state'; }
  clientInformation() { return this.info; }
  saveClientInformation(info) { this.info = info; }
  tokens() { return this.saved; }
  saveTokens(tokens) { this.saved = tokens; }
  redirectToAuthorization(url) { this.authorizationUrl = url; }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
  saveDiscoveryState(s) { this.discovery = s; }
  discoveryState() { return this.discovery; }
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

async function approve(authorizationUrl) {
  let res = await browse(authorizationUrl.href);
  check(res.status === 303, `authorize sends an anonymous user to sign in (got ${res.status})`);
  const login = new URL(res.headers.get('location'), OAUTHD);
  const next = login.searchParams.get('next');
  res = await browse(login.href);
  check(res.status === 200, 'the login page');
  const csrf = hidden(await res.text(), 'csrf');
  res = await browse(`${OAUTHD}/login`, form({ username: USERNAME, password: PASSWORD, csrf, next }));
  check(res.status === 303, `sign-in answers 303 (got ${res.status})`);
  res = await browse(new URL(res.headers.get('location'), OAUTHD).href);
  check(res.status === 200, `the consent page (got ${res.status})`);
  const page = await res.text();
  check(page.includes('access to'), 'the consent page names the resource');
  res = await browse(`${OAUTHD}/oauth/authorize`, form({
    request_id: hidden(page, 'request_id'),
    csrf: hidden(page, 'csrf'),
    decision: 'approve',
  }));
  check(res.status === 303, `approving answers 303 (got ${res.status})`);
  const back = new URL(res.headers.get('location'));
  check(back.href.startsWith(REDIRECT), `back at the redirect URI: ${back.href}`);
  check(back.searchParams.get('iss') === OAUTHD, 'iss in the authorization response (RFC 9207)');
  check(back.searchParams.get('state') === 'mcp-sdk-state', 'state comes back');
  return back.searchParams.get('code');
}

// --- The run -----------------------------------------------------------------

async function callMcp(token) {
  return fetch(RESOURCE, { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

async function main() {
  await new Promise((ok) => server.listen(RS_PORT, '127.0.0.1', ok));
  if (documentServer) {
    await new Promise((ok) => documentServer.listen(Number(env('CIMD_PORT')), '127.0.0.1', ok));
  }

  const first = await callMcp();
  check(first.status === 401, 'the resource asks for a token');
  const resourceMetadataUrl = extractResourceMetadataUrl(first);
  check(resourceMetadataUrl, 'the 401 names resource_metadata');

  const provider = new MemoryProvider();
  const serverUrl = RESOURCE;
  let result = await auth(provider, { serverUrl, resourceMetadataUrl });
  check(result === 'REDIRECT', `first auth() redirects, got ${result}`);
  if (CIMD) {
    check(provider.discovery?.authorizationServerMetadata?.client_id_metadata_document_supported === true,
      'the metadata advertises client_id_metadata_document_supported');
    check(provider.info?.client_id === DOCUMENT_URL,
      `the SDK uses the document URL as client_id, not ${provider.info?.client_id}`);
    check(!provider.info.client_secret, 'a document client has no secret');
  } else {
    check(provider.info?.client_id, 'dynamic registration gave a client_id');
    check(!provider.info.client_secret, 'a native app registers as a public client');
  }
  const url = provider.authorizationUrl;
  check(url.href.startsWith(`${OAUTHD}/oauth/authorize?`), `authorization URL ${url.href}`);
  check(url.searchParams.get('resource') === RESOURCE, 'the authorization request names the resource');
  check(url.searchParams.get('code_challenge_method') === 'S256', 'PKCE S256');
  check(url.searchParams.get('client_id') === provider.info.client_id, 'the request names the client_id');

  const code = await approve(url);
  result = await auth(provider, { serverUrl, resourceMetadataUrl, authorizationCode: code });
  check(result === 'AUTHORIZED', `the exchange authorizes, got ${result}`);
  const firstAccess = provider.saved.access_token;
  check(provider.saved.refresh_token, 'a refresh token');
  check((await callMcp(firstAccess)).status === 200, 'the resource accepts the token');

  // Introspection names the resource as the audience (RFC 8707).
  const plain = await introspect(firstAccess);
  check(plain.aud === RESOURCE, `aud is the resource: ${JSON.stringify(plain.aud)}`);

  // auth() with a refresh token on hand refreshes (rotation: a new one).
  const firstRefresh = provider.saved.refresh_token;
  result = await auth(provider, { serverUrl, resourceMetadataUrl });
  check(result === 'AUTHORIZED', `the refresh authorizes, got ${result}`);
  check(provider.saved.access_token !== firstAccess, 'a new access token');
  check(provider.saved.refresh_token && provider.saved.refresh_token !== firstRefresh,
    'the refresh token rotated');
  check((await callMcp(provider.saved.access_token)).status === 200, 'the refreshed token works');
  check((await callMcp('oat_not-a-token')).status === 401, 'a bogus token is refused');
  check(accepted === 2, `the resource accepted two calls, not ${accepted}`);
  if (CIMD) {
    check(documentFetches >= 1, 'oauthd fetched the client metadata document over https');
    console.log(`document fetches: ${documentFetches}`);
    console.log('mcp sdk cimd e2e passed');
  } else {
    console.log('mcp sdk e2e passed');
  }
}

const closeAll = () => { server.close(); documentServer?.close(); };
main().then(
  () => { closeAll(); process.exit(0); },
  (e) => { console.error(e?.stack ?? String(e)); closeAll(); process.exit(1); },
);
