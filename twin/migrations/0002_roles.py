"""The three kinds of users as groups: operators write the twin; field crews and partners read."""

from django.db import migrations

ROLES = {
    "operators": ("add", "change", "delete", "view"),
    "field-crew": ("view",),
    "partners": ("view",),
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, actions in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(content_type__app_label="twin")
        group.permissions.set([
            p for p in perms
            if p.codename.split("_", 1)[0] in actions
            and not p.content_type.model.startswith("historical")
        ])


class Migration(migrations.Migration):
    dependencies = [("twin", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
