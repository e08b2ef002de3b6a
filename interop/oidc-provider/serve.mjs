// Starts oidc-provider on 127.0.0.1 for grantkit's interop tests (tests/interop_oidc.rs).
//
//     node interop/oidc-provider/serve.mjs [PORT]
//
// PORT defaults to 0 (a free port). Prints `grantkit-interop listening on <issuer> <mtls> <api>`
// on stdout once it accepts requests: the token endpoint is <issuer>/token (plain http),
// <mtls>/token the same endpoint over HTTPS with client certificates (mutual TLS, RFC 8705),
// on a second free port, and <api>/api/... a resource server that accepts DPoP-bound access
// tokens (RFC 9449 §7) on a third. Exits when its stdin closes, so that it never outlives
// the test binary that spawned it.
//
// One static client per client authentication method, every one with the
// client_credentials grant; the private_key_jwt clients hold the PUBLIC test keys of
// crates/grants/tests/keys/ as their `jwks`. The HTTPS listener uses the test-only server
// certificate of that directory (issued by its test CA) and asks every client for a
// certificate: the tls_client_auth client is the CA-issued test-only-mtls-client.pem (by
// subject DN), the self_signed_tls_client_auth client test-only-mtls-self-signed.pem (by the
// certificate in its `jwks` `x5c`).

import { X509Certificate, createHash, createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { EmbeddedJWK, calculateJwkThumbprint, jwtVerify } from 'jose';
import Provider from 'oidc-provider';

const HERE = dirname(fileURLToPath(import.meta.url));
const KEYS = join(HERE, '..', '..', 'crates', 'grants', 'tests', 'keys');
const RESOURCE = 'urn:grantkit:interop:api';
// client_secret_jwt (HS256) needs a secret of at least 32 bytes.
const SECRET = 'grantkit-oidc-provider-interop-secret-0123456789';

function jwk(file) {
  return createPublicKey(readFileSync(join(KEYS, file))).export({ format: 'jwk' });
}

const pem = (file) => readFileSync(join(KEYS, file));

// The self-signed client's registered key: its certificate's public key, with the
// certificate itself in `x5c` (oidc-provider matches its SHA-256 thumbprint).
function certificateJwk(file) {
  const cert = new X509Certificate(pem(file));
  return { ...cert.publicKey.export({ format: 'jwk' }), use: 'sig', x5c: [cert.raw.toString('base64')] };
}

// The subject of a certificate as RFC 4514 writes it (`CN=leaf,O=org`): Node gives the RDNs
// first to last, one per line.
function subjectDn(cert) {
  return cert.subject.split('\n').reverse().join(',');
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

// A public JWK of a private JWK file.
function jwkFromJwkFile(file) {
  const key = JSON.parse(readFileSync(join(KEYS, file), 'utf8'));
  return createPublicKey({ key, format: 'jwk' }).export({ format: 'jwk' });
}

// Keys told apart by `kid`: one RS256 client holding two RSA keys, the test key under its
// RFC 7638 thumbprint (computed here by jose, independently of grantkit) and RFC 7517 A.2's
// under its own kid, `2011-04-29`.
const testRsa = jwk('test-only-rsa-public.pem');
const KID_CLIENT_KEYS = [
  { ...testRsa, kid: await calculateJwkThumbprint(testRsa, 'sha256'), use: 'sig' },
  { ...jwkFromJwkFile('rfc7517-a2-rsa.jwk.json'), kid: '2011-04-29', use: 'sig' },
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
  client('grantkit-pkjwt-kids', 'private_key_jwt', {
    token_endpoint_auth_signing_alg: 'RS256',
    jwks: { keys: KID_CLIENT_KEYS },
  }),
  client('grantkit-tls', 'tls_client_auth', {
    tls_client_auth_subject_dn: 'CN=grantkit-test-client,O=grantkit tests',
  }),
  client('grantkit-self-signed', 'self_signed_tls_client_auth', {
    jwks: { keys: [certificateJwk('test-only-mtls-self-signed.pem')] },
  }),
];

// --- Device authorization grant (RFC 8628): tests/interop_oidc_device.rs ----------------
// A public client with the device_code and refresh_token grants; the user side (the
// user-code page, a devInteractions login with any account, the consent page) is driven
// over HTTP by the test. `offline_access` makes oidc-provider issue refresh tokens, which
// it rotates for public clients.
const DEVICE_CLIENT = {
  client_id: 'grantkit-device',
  token_endpoint_auth_method: 'none',
  grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
  response_types: [],
  redirect_uris: [],
};
clients.push(DEVICE_CLIENT);
const USER_SCOPES = ['openid', 'offline_access'];
const DEVICE_FEATURES = {
  deviceFlow: { enabled: true },
  devInteractions: { enabled: true },
};
// The user's tokens are not for the client_credentials resource server: no default
// resource for the device client.
const defaultResourceFor = (client) => (client?.clientId === DEVICE_CLIENT.client_id ? undefined : RESOURCE);
// --- end of the device authorization grant -----------------------------------------------
// --- DPoP (RFC 9449): tests/interop_oidc_dpop.rs ------------------------------------------
// oidc-provider binds an access token to the key of the DPoP proof of its token request, and
// asks every proof for a nonce (requireNonce). One client that may use DPoP, one that must
// (dpop_bound_access_tokens). The resource server is `api` below.
const DPOP_ALGS = ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'];
clients.push(
  client('grantkit-dpop', 'client_secret_basic', { client_secret: SECRET }),
  client('grantkit-dpop-bound', 'client_secret_basic', { client_secret: SECRET, dpop_bound_access_tokens: true }),
);
const DPOP_FEATURE = { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true };
// --- end of DPoP ---
// --- Authorization code with PKCE (grantkit's AuthorizationCodeLogin, `login --browser`) ---
// A native public client with a loopback redirect: for `application_type: 'native'`
// oidc-provider accepts http://127.0.0.1/callback at any port (RFC 8252 §7.3); PKCE is
// required of every client without authentication (pkce.required's default); refresh
// tokens come with `offline_access`, which needs `prompt=consent`. The tests drive the
// development login and consent pages (devInteractions) over HTTP.
clients.push({
  client_id: 'grantkit-native',
  application_type: 'native',
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: ['http://127.0.0.1/callback'],
});
const DEV_INTERACTIONS = true;
// `offline_access` must be a provider scope, or no client may have refresh_token.
const LOGIN_SCOPES = ['openid', 'offline_access'];
// --- end of authorization code ---

const port = Number(process.argv[2] ?? 0);
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

// The same provider over HTTPS, asking for client certificates; the handshake accepts any
// (or none), and `socket.authorized` says whether the test CA issued it.
const tls = createHttpsServer({
  cert: pem('test-only-mtls-server.pem'),
  key: pem('test-only-mtls-server-key.pem'),
  ca: pem('test-only-mtls-ca.pem'),
  requestCert: true,
  rejectUnauthorized: false,
});
await new Promise((resolve, reject) => {
  tls.once('error', reject);
  tls.listen(0, '127.0.0.1', resolve);
});
const mtls = `https://127.0.0.1:${tls.address().port}`;

// The client certificate of the request's TLS connection, if any.
function peerCertificate(ctx) {
  const peer = ctx.socket?.getPeerCertificate?.();
  return peer?.raw ? new X509Certificate(peer.raw) : undefined;
}

const provider = new Provider(issuer, {
  clients,
  clientAuthMethods: [
    'none', 'client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt',
    'tls_client_auth', 'self_signed_tls_client_auth',
  ],
  enabledJWA: {
    clientAuthSigningAlgValues: ['HS256', ...PRIVATE_KEY_JWT.map(([alg]) => alg)],
    dPoPSigningAlgValues: DPOP_ALGS,
  },
  features: {
    dPoP: DPOP_FEATURE,
    devInteractions: { enabled: DEV_INTERACTIONS },
    mTLS: {
      enabled: true,
      tlsClientAuth: true,
      selfSignedTlsClientAuth: true,
      getCertificate: peerCertificate,
      certificateAuthorized: (ctx) => ctx.socket?.authorized === true,
      certificateSubjectMatches: (ctx, property, expected) => {
        const cert = peerCertificate(ctx);
        switch (property) {
          case 'tls_client_auth_subject_dn':
            return cert !== undefined && subjectDn(cert) === expected;
          default:
            throw new Error(`${property} is not used by these tests`);
        }
      },
    },
    clientCredentials: { enabled: true },
    ...DEVICE_FEATURES,
    // RFC 7009, for TokenManager::revoke; introspection (RFC 7662) tells the tests whether
    // a token is still active.
    revocation: { enabled: true },
    introspection: { enabled: true },
    // client_credentials issues an access token for a resource server: one, the default.
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client) => defaultResourceFor(client),
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) throw new Error(`unknown resource ${resourceIndicator}`);
        return { scope: 'api:read', audience: RESOURCE, accessTokenTTL: 3600, accessTokenFormat: 'opaque' };
      },
    },
  },
  scopes: [...new Set(['api:read', ...LOGIN_SCOPES, ...USER_SCOPES])],
});
// Log why a client was refused (stderr; the test shows it on failure).
provider.on('grant.error', (ctx, err) => {
  console.error(`grant.error: ${err.name} ${err.message} ${err.error_description ?? ''} ${err.error_detail ?? ''}`);
});
server.on('request', provider.callback());
tls.on('request', provider.callback());

// --- The DPoP resource server (RFC 9449 §7), on a port (an origin) of its own ------------
// Any method on /api/...: `Authorization: DPoP <token>` and a `DPoP` proof, verified with
// jose (typ, alg, the signature with the embedded jwk), htm and htu of this request, iat
// within 60 s, ath of the token, a jti never seen, and the resource server's own nonce
// (401 use_dpop_nonce with a DPoP-Nonce header first). The token must be an active access
// token of the provider bound (cnf.jkt) to the proof's key. Answers 200 {"ok":true,
// "client_id","jkt"} or 401 with `WWW-Authenticate: DPoP error="..."`.
const apiJti = new Set();
const apiNonces = [randomBytes(16).toString('base64url')];
const api = createServer(async (req, res) => {
  const refuse = (error, description, nonce) => {
    console.error(`api: refused: ${error}: ${description}`);
    const headers = {
      'www-authenticate': `DPoP algs="${DPOP_ALGS.join(' ')}", error="${error}", error_description="${description}"`,
      'content-type': 'application/json',
    };
    if (nonce) headers['dpop-nonce'] = nonce;
    res.writeHead(401, headers).end(JSON.stringify({ error, error_description: description }));
  };
  try {
    const url = new URL(req.url, apiBase);
    if (!url.pathname.startsWith('/api/')) {
      res.writeHead(404).end();
      return;
    }
    const authorization = req.headers.authorization ?? '';
    if (!authorization.startsWith('DPoP ')) return refuse('invalid_token', 'a DPoP token is required');
    const accessToken = authorization.slice('DPoP '.length);
    const proof = req.headers.dpop;
    if (typeof proof !== 'string') return refuse('invalid_dpop_proof', 'a DPoP proof is required');
    let verified;
    try {
      verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: DPOP_ALGS });
    } catch (e) {
      return refuse('invalid_dpop_proof', `the proof does not verify: ${e.code ?? e.message}`);
    }
    const { payload, protectedHeader } = verified;
    if (payload.htm !== req.method) return refuse('invalid_dpop_proof', 'htm mismatch');
    const htu = URL.parse(payload.htu);
    if (htu) { htu.search = ''; htu.hash = ''; }
    if (htu?.href !== `${apiBase}${url.pathname}`) return refuse('invalid_dpop_proof', 'htu mismatch');
    if (typeof payload.iat !== 'number' || Math.abs(Date.now() / 1000 - payload.iat) > 60) {
      return refuse('invalid_dpop_proof', 'iat is not recent');
    }
    const ath = createHash('sha256').update(accessToken).digest('base64url');
    if (payload.ath !== ath) return refuse('invalid_dpop_proof', 'ath mismatch');
    if (!apiNonces.includes(payload.nonce)) {
      return refuse('use_dpop_nonce', 'Resource server requires nonce in DPoP proof', apiNonces.at(-1));
    }
    if (typeof payload.jti !== 'string' || apiJti.has(payload.jti)) {
      return refuse('invalid_dpop_proof', 'jti replayed');
    }
    apiJti.add(payload.jti);
    const token = (await provider.ClientCredentials.find(accessToken))
      ?? (await provider.AccessToken.find(accessToken));
    if (!token || token.isExpired) return refuse('invalid_token', 'the access token is not active');
    const jkt = await calculateJwkThumbprint(protectedHeader.jwk, 'sha256');
    if (token.jkt !== jkt) return refuse('invalid_token', 'the token is not bound to the proof key');
    res.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ ok: true, client_id: token.clientId, jkt }));
  } catch (e) {
    console.error(`api: ${e.stack}`);
    res.writeHead(500).end();
  }
});
await new Promise((resolve, reject) => {
  api.once('error', reject);
  api.listen(0, '127.0.0.1', resolve);
});
const apiBase = `http://127.0.0.1:${api.address().port}`;

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
console.log(`grantkit-interop listening on ${issuer} ${mtls} ${apiBase}`);
