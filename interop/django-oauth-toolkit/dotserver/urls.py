"""Routes of the interop server.

- /o/token/, /o/revoke_token/, /o/introspect/  DOT's own endpoints, unchanged
  (form bodies, as RFC 6749 specifies).
- /json/token/  DOT's TokenView with DOT's own JSONOAuthLibCore backend, which reads
  application/json bodies (deprecated in DOT 3.4.1, still shipped).
- /api/me/  a protected resource: who the bearer token belongs to and how it was issued.
"""

from django.urls import include, path
from oauth2_provider import urls as dot_urls

from . import views

urlpatterns = [
    path("o/", include((dot_urls.base_urlpatterns, "oauth2_provider"))),
    path(
        "json/token/",
        views.JsonTokenView.as_view(),
        name="json-token",
    ),
    path("api/me/", views.me, name="me"),
    path("healthz", views.healthz, name="healthz"),
]
