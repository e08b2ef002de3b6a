// Starts oidc-provider on 127.0.0.1 for grantkit's interop tests (tests/interop_oidc.rs).
//
//     node interop/oidc-provider/serve.mjs [PORT]
//
// PORT defaults to 0 (a free port). Prints `grantkit-interop listening on <issuer>` on stdout
// once it accepts requests; the token endpoint is <issuer>/token. Exits when its stdin
// closes, so that it never outlives the test binary that spawned it.
//
// One static client per client authentication method, every one with the
// client_credentials grant; the private_key_jwt clients hold the PUBLIC test keys of
// crates/grants/tests/keys/ as their `jwks`.

import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import Provider from 'oidc-provider';

const HERE = dirname(fileURLToPath(import.meta.url));
const KEYS = join(HERE, '..', '..', 'crates', 'grants', 'tests', 'keys');
const RESOURCE = 'urn:grantkit:interop:api';
// client_secret_jwt (HS256) needs a secret of at least 32 bytes.
const SECRET = 'grantkit-oidc-provider-interop-secret-0123456789';

function jwk(file) {
  return createPublicKey(readFileSync(join(KEYS, file))).export({ format: 'jwk' });
}

function client(id, method, extra = {}) {
  return {
    client_id: id,
    token_endpoint_auth_method: method,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    ...extra,
  };
}

// private_key_jwt: one client per algorithm, so that the server pins the alg it accepts.
const PRIVATE_KEY_JWT = [
  ['RS256', 'test-only-rsa-public.pem'],
  ['RS384', 'test-only-rsa-public.pem'],
  ['RS512', 'test-only-rsa-public.pem'],
  ['PS256', 'test-only-rsa-public.pem'],
  ['PS384', 'test-only-rsa-public.pem'],
  ['PS512', 'test-only-rsa-public.pem'],
  ['ES256', 'test-only-ec-p256-public.pem'],
  ['ES384', 'test-only-ec-p384-public.pem'],
  ['EdDSA', 'test-only-ed25519-public.pem'],
];

const clients = [
  // oidc-provider lets a public client (`none`) use client_credentials.
  client('grantkit-none', 'none'),
  client('grantkit-basic', 'client_secret_basic', { client_secret: SECRET }),
  client('grantkit-post', 'client_secret_post', { client_secret: SECRET }),
  client('grantkit-secret-jwt', 'client_secret_jwt', {
    client_secret: SECRET,
    token_endpoint_auth_signing_alg: 'HS256',
  }),
  ...PRIVATE_KEY_JWT.map(([alg, file]) =>
    client(`grantkit-pkjwt-${alg.toLowerCase()}`, 'private_key_jwt', {
      token_endpoint_auth_signing_alg: alg,
      jwks: { keys: [{ ...jwk(file), use: 'sig' }] },
    }),
  ),
];

const port = Number(process.argv[2] ?? 0);
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients,
  clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt'],
  enabledJWA: {
    clientAuthSigningAlgValues: ['HS256', ...PRIVATE_KEY_JWT.map(([alg]) => alg)],
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // client_credentials issues an access token for a resource server: one, the default.
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) throw new Error(`unknown resource ${resourceIndicator}`);
        return { scope: 'api:read', audience: RESOURCE, accessTokenTTL: 3600, accessTokenFormat: 'opaque' };
      },
    },
  },
  scopes: ['api:read'],
});
// Log why a client was refused (stderr; the test shows it on failure).
provider.on('grant.error', (ctx, err) => {
  console.error(`grant.error: ${err.name} ${err.message} ${err.error_description ?? ''}`);
});
server.on('request', provider.callback());

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
console.log(`grantkit-interop listening on ${issuer}`);
