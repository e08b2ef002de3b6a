"""WSGI entry point, for serving the interop server with any WSGI server."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dotserver.settings")
application = get_wsgi_application()
