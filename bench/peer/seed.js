// Creates the schema, then N authorization codes, each with its own Grant,
// through the provider's models (as its authorization endpoint would after
// consent), and prints one code a line.
//
// usage: node seed.js N
import { readFile } from 'node:fs/promises';

import { ACCOUNT_ID, REDIRECT_URI, RESOURCE, SCOPE, makeProvider } from './provider.js';

const n = Number(process.argv[2] ?? 0);
if (!Number.isInteger(n) || n < 0) {
  throw new Error('usage: node seed.js N');
}

const { provider, pool, clientId } = makeProvider();
await pool.query(await readFile(new URL('./schema.sql', import.meta.url), 'utf8'));
const client = await provider.Client.find(clientId);

async function one() {
  const grant = new provider.Grant({ accountId: ACCOUNT_ID, clientId });
  grant.addResourceScope(RESOURCE, SCOPE);
  const grantId = await grant.save();
  const code = new provider.AuthorizationCode({
    accountId: ACCOUNT_ID,
    client,
    grantId,
    redirectUri: REDIRECT_URI,
    resource: RESOURCE,
    scope: SCOPE,
  });
  return code.save();
}

// 64 in flight at a time; pg queues them on its pool of 10.
const codes = [];
for (let done = 0; done < n;) {
  const batch = Math.min(64, n - done);
  codes.push(...await Promise.all(Array.from({ length: batch }, one)));
  done += batch;
}
if (codes.length) process.stdout.write(`${codes.join('\n')}\n`);
await pool.end();
