"""Settings of the authorization server used by grantkit's interop tests.

A minimal Django project around django-oauth-toolkit (DOT): no admin, no sessions, no
templates, an SQLite database in the directory named by GRANTKIT_INTEROP_DATA_DIR.
Everything here is a fixed test value; nothing is secret.
"""

import os

DATA_DIR = os.environ.get("GRANTKIT_INTEROP_DATA_DIR", os.path.join(os.getcwd(), "interop-data"))

SECRET_KEY = "grantkit-interop-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ROOT_URLCONF = "dotserver.urls"
WSGI_APPLICATION = "dotserver.wsgi.application"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "oauth2_provider",
    "dotserver",
]
MIDDLEWARE = []

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(DATA_DIR, "db.sqlite3"),
        # The dev server is threaded and tests run in parallel: wait for the write lock
        # instead of failing with "database is locked".
        "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

# Client secrets and user passwords are hashed with Django's first hasher. PBKDF2 at its
# default cost takes ~0.3 s per check; the tests make dozens of requests, so use the hasher
# Django itself recommends for test suites.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

OAUTH2_PROVIDER = {
    "SCOPES": {"read": "Read access", "write": "Write access"},
    "DEFAULT_SCOPES": ["read", "write"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    "REFRESH_TOKEN_EXPIRE_SECONDS": 86400,
    # DOT's defaults, spelled out because the tests rely on them.
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.server": {"handlers": ["stderr"], "level": "INFO"},
        "oauth2_provider": {"handlers": ["stderr"], "level": "INFO"},
        "oauthlib": {"handlers": ["stderr"], "level": "INFO"},
    },
}

# Each server starts on an empty database. Creating the tables straight from the models
# takes a fraction of a second; running the ~60 migrations of auth and DOT takes ~5 s.
MIGRATION_MODULES = {app: None for app in ["contenttypes", "auth", "oauth2_provider", "dotserver"]}
