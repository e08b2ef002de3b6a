"""The interop server's own views: DOT's token view reading JSON, and a protected
resource telling the server's view of a bearer token."""

from django.http import HttpResponse, JsonResponse
from oauth2_provider.oauth2_backends import JSONOAuthLibCore, get_oauthlib_core
from oauth2_provider.views import TokenView


class JsonTokenView(TokenView):
    """DOT's TokenView with DOT's JSONOAuthLibCore backend: reads application/json bodies.

    OAuthLibMixin caches its backend in a class attribute found through inheritance, so
    this subclass keeps a cache of its own; otherwise it would share TokenView's form
    backend whenever /o/token/ was called first.
    """

    oauthlib_backend_class = JSONOAuthLibCore

    @classmethod
    def get_oauthlib_core(cls):
        if "_oauthlib_core" not in cls.__dict__:
            cls._oauthlib_core = cls.get_oauthlib_backend_class()(cls.get_server())
        return cls._oauthlib_core


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


def me(request):
    """200 with the token's owner, client, scope and whether a refresh_token grant issued
    it (DOT records the refresh token consumed, `source_refresh_token`); 401 with
    `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3) for a missing, unknown,
    expired or revoked token."""
    valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=[])
    if not valid:
        response = JsonResponse({"error": "invalid_token"}, status=401)
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    token = oauth_request.access_token
    return JsonResponse(
        {
            "user": token.user.get_username() if token.user else None,
            "client_id": token.application.client_id if token.application else None,
            "scope": token.scope,
            "issued_by_refresh_token": token.source_refresh_token_id is not None,
        }
    )
