"""Create (once) the demo operator account of the embedded mode and print its credentials."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create the demo admin user (var/demo-admin.txt keeps its password) and print it."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        secret_file = settings.VAR_DIR / "demo-admin.txt"
        if not secret_file.exists():
            secret_file.write_text(secrets.token_urlsafe(12))
            secret_file.chmod(0o600)
        password = secret_file.read_text().strip()
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        if created or not user.check_password(password):
            user.set_password(password)
            user.is_staff = user.is_superuser = True
            user.save()
        user.groups.add(Group.objects.get_or_create(name="operators")[0])
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(
            f"Demo operator: user {username!r}, password {password!r} "
            f"(/admin/); API token: {token.key}"
        )
