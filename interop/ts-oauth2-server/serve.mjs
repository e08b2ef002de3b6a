// Starts @jmondi/oauth2-server (npm; "ts-oauth2-server") on 127.0.0.1 for grantkit's
// token-exchange interop tests (tests/interop_token_exchange.rs):
//
//     node interop/ts-oauth2-server/serve.mjs [PORT]
//
// PORT defaults to 0 (a free port). Prints `grantkit-interop listening on <base>` once it
// accepts requests; the token endpoint is <base>/token. Exits when its stdin closes.
//
// The library implements RFC 8693's request handling itself (TokenExchangeGrant: client
// authentication, subject/actor parameters, scopes, the bearer response) and leaves one
// decision to the deployment, as RFC 8693 does: whether the subject token is acceptable
// (`processTokenExchange`). Here, a subject token is accepted when it is an access token
// this server issued to the client `grantkit-upstream` (client_credentials) and still
// holds: its JWT signature is verified with the server's key and its `jti` looked up.
// The issued token's `sub` records what the server received (subject client, audience,
// resource, actor token type, requested token type), for the tests to read back.

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import { AuthorizationServer, DateInterval, OAuthException } from '@jmondi/oauth2-server';
import { handleVanillaError, requestFromVanilla, responseToVanilla } from '@jmondi/oauth2-server/vanilla';
import jwt from 'jsonwebtoken';

const SIGNING_KEY = 'grantkit-ts-oauth2-server-interop-signing-key';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

const clients = new Map([
  ['grantkit-upstream', { secret: 'grantkit-upstream-secret', grants: ['client_credentials'] }],
  ['grantkit-exchange', { secret: 'grantkit-exchange-secret', grants: [TOKEN_EXCHANGE] }],
].map(([id, c]) => [id, {
  id, name: id, secret: c.secret, allowedGrants: c.grants, redirectUris: [], scopes: [{ name: 'api:read' }],
}]));
const scopes = new Map([['api:read', { name: 'api:read' }]]);
// Access tokens issued and not revoked, by their `jti`.
const issued = new Map();

const clientRepository = {
  async getByIdentifier(id) {
    const client = clients.get(id);
    if (!client) throw OAuthException.invalidClient('unknown client');
    return client;
  },
  async isClientValid(grantType, client, secret) {
    return client.secret === secret && client.allowedGrants.includes(grantType);
  },
};

const tokenRepository = {
  async issueToken(client, tokenScopes, user) {
    return {
      accessToken: randomBytes(16).toString('hex'),
      accessTokenExpiresAt: new Date(Date.now() + 3600_000),
      client, user, scopes: tokenScopes,
    };
  },
  async issueRefreshToken(token) { return token; },
  async persist(token) { issued.set(token.accessToken, token); },
  async revoke(token) { issued.delete(token.accessToken); },
  async isRefreshTokenRevoked() { return true; },
  async getByRefreshToken() { throw OAuthException.invalidGrant('no refresh tokens here'); },
  async getByAccessToken(value) { return issued.get(value); },
};

const scopeRepository = {
  async getAllByIdentifiers(names) { return names.filter((n) => scopes.has(n)).map((n) => scopes.get(n)); },
  async finalize(requested) { return requested; },
};

const server = new AuthorizationServer(clientRepository, tokenRepository, scopeRepository, SIGNING_KEY);
server.enableGrantType('client_credentials');
server.enableGrantType({
  grant: TOKEN_EXCHANGE,
  processTokenExchange: async (args) => {
    if (args.subjectTokenType !== ACCESS_TOKEN_TYPE) {
      throw OAuthException.badRequest(`unsupported subject_token_type ${args.subjectTokenType}`);
    }
    let claims;
    try {
      claims = jwt.verify(args.subjectToken, SIGNING_KEY);
    } catch {
      throw OAuthException.invalidGrant('the subject_token is not a token of this server');
    }
    if (claims.cid !== 'grantkit-upstream' || !issued.has(claims.jti)) {
      throw OAuthException.invalidGrant('the subject_token is unknown or revoked');
    }
    const seen = [
      `subject=${claims.cid}`,
      `audience=${args.audience ?? ''}`,
      `resource=${args.resource ?? ''}`,
      `actor=${args.actorTokenType ?? ''}`,
      `requested=${args.requestedTokenType ?? ''}`,
    ];
    return { id: seen.join(' ') };
  },
}, new DateInterval('1h'));

const http = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  const url = new URL(req.url, `http://${req.headers.host}`);
  // Test-only: forgets an issued token by its jti, as if it were revoked elsewhere.
  if (req.method === 'POST' && url.pathname === '/forget') {
    issued.delete(body.toString());
    res.writeHead(204).end();
    return;
  }
  let response;
  if (req.method === 'POST' && url.pathname === '/token') {
    const request = new Request(url, { method: 'POST', headers: req.headers, body });
    try {
      response = responseToVanilla(await server.respondToAccessTokenRequest(await requestFromVanilla(request)));
    } catch (e) {
      console.error(`token error: ${e?.message ?? e} ${e?.errorDescription ?? ''}`);
      response = responseToVanilla(handleVanillaError(e));
    }
  } else {
    response = new Response('not found', { status: 404 });
  }
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(Buffer.from(await response.arrayBuffer()));
});

const port = Number(process.argv[2] ?? 0);
await new Promise((resolve, reject) => {
  http.once('error', reject);
  http.listen(port, '127.0.0.1', resolve);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
console.log(`grantkit-interop listening on http://127.0.0.1:${http.address().port}`);
