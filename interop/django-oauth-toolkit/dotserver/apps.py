from django.apps import AppConfig


class DotServerConfig(AppConfig):
    name = "dotserver"
    default_auto_field = "django.db.models.BigAutoField"
