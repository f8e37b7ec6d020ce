"""The three kinds of users as groups: operators write the twin; field crews and partners read.

Kept in step with the models on every ``migrate`` (a ``post_migrate`` handler), so apps added
later give their permissions to the same roles: every app whose ``AppConfig`` sets
``role_permissions = True`` (the twin, markets, routing …).
"""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.models import Group, Permission

ROLES: dict[str, tuple[str, ...]] = {
    "operators": ("add", "change", "delete", "view"),
    "field-crew": ("view",),
    "partners": ("view",),
}


def ensure_roles(**kwargs) -> None:
    """Create the role groups and give each the permissions its actions allow."""
    role_apps = [config.label for config in apps.get_app_configs()
                 if getattr(config, "role_permissions", False)]
    perms = [
        p for p in Permission.objects.filter(content_type__app_label__in=role_apps)
        .select_related("content_type")
        if not p.content_type.model.startswith("historical")
    ]
    for name, actions in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set([p for p in perms if p.codename.split("_", 1)[0] in actions])
