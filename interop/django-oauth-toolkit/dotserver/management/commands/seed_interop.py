"""Creates the clients and the user of the interop tests; safe to run again.

The ids, secrets and password are fixed test values, repeated in tests/interop.rs.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from oauth2_provider.models import get_application_model

Application = get_application_model()

USERNAME = "alice"
PASSWORD = "alice-password"

CLIENTS = [
    # (client_id, client_secret, grant type)
    ("grantkit-cc", "grantkit-cc-secret", Application.GRANT_CLIENT_CREDENTIALS),
    # Characters that RFC 6749 §2.3.1 says must be form-urlencoded before Basic encoding.
    ("grantkit cc:special", "s3cret:with+plus/slash%percent&amp=eq ~space", Application.GRANT_CLIENT_CREDENTIALS),
    ("grantkit-password", "grantkit-password-secret", Application.GRANT_PASSWORD),
]


class Command(BaseCommand):
    help = "Create (or reset) the interop tests' clients and user."

    def handle(self, *args, **options):
        user, _ = get_user_model().objects.get_or_create(username=USERNAME)
        user.set_password(PASSWORD)
        user.save()
        for client_id, secret, grant in CLIENTS:
            app, _ = Application.objects.get_or_create(
                client_id=client_id,
                defaults={
                    "client_type": Application.CLIENT_CONFIDENTIAL,
                    "authorization_grant_type": grant,
                },
            )
            app.name = client_id
            app.client_type = Application.CLIENT_CONFIDENTIAL
            app.authorization_grant_type = grant
            app.hash_client_secret = True
            app.client_secret = secret  # hashed on save
            app.user = user if grant == Application.GRANT_PASSWORD else None
            app.save()
        self.stdout.write(f"seeded {len(CLIENTS)} clients and user {USERNAME!r}")
