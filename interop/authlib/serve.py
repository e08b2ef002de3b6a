"""Starts the JWT-bearer interop authorization server on a free loopback port.

    <venv>/bin/python interop/authlib/serve.py [--port N] [--no-stdin-watch] [--stock-algorithms]

A Flask app whose token endpoint is Authlib's `AuthorizationServer` with Authlib's
RFC 7523 §2.1 grant, `authlib.oauth2.rfc7523.JWTBearerGrant`: Authlib (with its JOSE
library, joserfc) parses the assertion, picks the issuer's public key by `kid`, verifies
the signature and checks `iss`, `aud`, `exp`, `iat` and `nbf`. This file only says which
issuers exist, which keys they hold, and which audiences the server answers to — the
methods the grant asks its user to write.

Binds 127.0.0.1 on port N (default 0: a free port chosen by the OS), then prints exactly
one line to stdout,

    grantkit-interop listening on http://127.0.0.1:PORT

and serves with Werkzeug's threaded server until stdin reaches end of file (the test
process that started it exited, however it exited), SIGTERM or SIGINT. The request log
and why Authlib refused an assertion go to stderr.

Endpoints:
    POST /token      the token endpoint (grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer)
    GET  /api/me     for a bearer token this server issued: {"client_id", "user", "scope"}
"""

import argparse
import logging
import os
import signal
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "crates", "grants", "tests", "keys")

#: The HS256 issuer's shared secret (tests/interop_jwt_bearer.rs has the same).
HS256_SECRET = "grantkit-authlib-interop-hs256-secret-0123456789"
#: Scopes the server knows; a request for another is `invalid_scope`.
SCOPES = ["read", "write"]
#: Lifetime of the access tokens it issues, in seconds.
LIFETIME = 3600
#: Users an assertion's `sub` may name.
USERS = {"alice"}

#: One issuer per algorithm grantkit signs with: iss `grantkit-<alg>`, one public key
#: with kid `<alg>-1` and that `alg` (joserfc only picks a key whose `alg` matches the
#: assertion's header).
ASYMMETRIC = {
    "RS256": "test-only-rsa-public.pem",
    "RS384": "test-only-rsa-public.pem",
    "RS512": "test-only-rsa-public.pem",
    "PS256": "test-only-rsa-public.pem",
    "PS384": "test-only-rsa-public.pem",
    "PS512": "test-only-rsa-public.pem",
    "ES256": "test-only-ec-p256-public.pem",
    "ES384": "test-only-ec-p384-public.pem",
    "EdDSA": "test-only-ed25519-public.pem",
}


def allow_every_algorithm():
    """joserfc, which Authlib's JWTBearerGrant verifies with, accepts only its
    "recommended" algorithms (HS256, RS256, ES256) unless the caller passes a list, and
    the grant passes none: out of the box an Authlib server refuses an RS384, PS256,
    ES384 or EdDSA assertion with invalid_grant ("Algorithm of 'PS256' is not
    recommended"). A server that registers such keys has to widen that list; this is
    the one setting changed here. The verification itself stays joserfc's."""
    from joserfc.jws import JWSRegistry

    for name in ["HS256", *ASYMMETRIC]:
        if name not in JWSRegistry.recommended:
            JWSRegistry.recommended.append(name)


def key_type(alg):
    """The JWK `kty` of an algorithm's keys."""
    if alg == "EdDSA":
        return "OKP"
    return "EC" if alg.startswith("ES") else "RSA"


def read_key(name):
    with open(os.path.join(KEYS, name), "rb") as f:
        return f.read()


def issuers():
    """iss → its KeySet (public keys and the HS256 secret, each with kid and alg)."""
    from joserfc.jwk import KeySet, OctKey, import_key

    found = {}
    for alg, file in ASYMMETRIC.items():
        kid = f"{alg.lower()}-1"
        key = import_key(
            read_key(file), key_type(alg), parameters={"kid": kid, "alg": alg, "use": "sig"}
        )
        found[f"grantkit-{alg.lower()}"] = KeySet([key])
    found["grantkit-hs256"] = KeySet(
        [OctKey.import_key(HS256_SECRET, {"kid": "hs256-1", "alg": "HS256", "use": "sig"})]
    )
    # An issuer in the middle of a key rotation: two keys, told apart only by kid.
    found["grantkit-rotating"] = KeySet(
        [
            import_key(
                read_key("test-only-rsa-public.pem"),
                "RSA",
                parameters={"kid": "rsa-2026", "alg": "RS256", "use": "sig"},
            ),
            import_key(
                read_key("test-only-ec-p256-public.pem"),
                "EC",
                parameters={"kid": "ec-2026", "alg": "ES256", "use": "sig"},
            ),
        ]
    )
    return found


def create_app(base_url):
    from authlib.integrations.flask_oauth2 import AuthorizationServer
    from authlib.oauth2.rfc6749 import ClientMixin
    from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
    from authlib.oauth2.rfc7523 import JWTBearerGrant
    from flask import Flask, jsonify, request

    keys = issuers()
    tokens = {}  # access token → what /api/me says about it
    lock = threading.Lock()

    class Client(ClientMixin):
        def __init__(self, client_id):
            self.client_id = client_id

        def __repr__(self):
            return f"Client({self.client_id!r})"

        def get_client_id(self):
            return self.client_id

        def get_allowed_scope(self, scope):
            return list_to_scope([s for s in scope_to_list(scope) or [] if s in SCOPES])

        def check_grant_type(self, grant_type):
            return grant_type == JWTBearerGrant.GRANT_TYPE

    class Grant(JWTBearerGrant):
        def resolve_issuer_client(self, issuer):
            return Client(issuer) if issuer in keys else None

        def resolve_client_public_key(self, client):
            return keys[client.client_id]

        def get_audiences(self):
            return [f"{base_url}/token", base_url]

        def authenticate_user(self, subject):
            return subject if subject in USERS else None

        def has_granted_permission(self, client, user):
            return True

    def query_client(client_id):
        return Client(client_id) if client_id in keys else None

    def save_token(token, req):
        with lock:
            tokens[token["access_token"]] = {
                "client_id": req.client.client_id,
                "user": req.user,
                "scope": token.get("scope"),
            }

    app = Flask("grantkit-authlib-interop")
    app.config["OAUTH2_SCOPES_SUPPORTED"] = SCOPES
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {JWTBearerGrant.GRANT_TYPE: LIFETIME}
    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(Grant)

    @app.post("/token")
    def token():
        return server.create_token_response()

    @app.get("/api/me")
    def me():
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        with lock:
            info = tokens.get(value) if scheme.lower() == "bearer" else None
        if info is None:
            return jsonify(error="invalid_token"), 401
        return jsonify(info)

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--stock-algorithms",
        action="store_true",
        help="accept only joserfc's recommended algorithms (HS256, RS256, ES256), "
        "as Authlib does out of the box",
    )
    parser.add_argument(
        "--no-stdin-watch",
        action="store_true",
        help="keep serving when stdin closes (for running it by hand in the background)",
    )
    args = parser.parse_args()

    def shut_down(code=0):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    signal.signal(signal.SIGTERM, lambda *_: shut_down())
    signal.signal(signal.SIGINT, lambda *_: shut_down())
    if not args.no_stdin_watch:

        def watch_stdin():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except OSError:
                pass
            shut_down()

        threading.Thread(target=watch_stdin, daemon=True).start()

    # Why Authlib refused an assertion ("Assertion Error: …") is logged at DEBUG, beside
    # "Issue token {…}" with the whole token response, which is left out.
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("authlib").setLevel(logging.DEBUG)
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda record: not record.getMessage().startswith("Issue token"))

    from importlib.metadata import version

    from werkzeug.serving import make_server

    if not args.stock_algorithms:
        allow_every_algorithm()
    # Bind first: the audiences the grant accepts name the port.
    server = make_server("127.0.0.1", args.port, None, threaded=True)
    base_url = f"http://127.0.0.1:{server.port}"
    server.app = create_app(base_url)
    print(
        ", ".join(f"{name} {version(name)}" for name in ["Authlib", "joserfc", "Flask"]),
        file=sys.stderr,
    )
    print(f"grantkit-interop listening on {base_url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except SystemExit as exit:
        os._exit(exit.code if isinstance(exit.code, int) else 1)
    except BaseException:  # noqa: BLE001 - report, then exit without waiting on stdin
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
