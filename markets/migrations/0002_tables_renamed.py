"""Rename the tables the markets app took over from the twin (``twin_market`` → ``markets_market``
…) and move their content types, so that permissions given to roles and admin log entries follow
the models."""

from django.db import migrations

MODELS = ("market", "historicalmarket", "pricingnode", "historicalpricingnode", "nodalprice",
          "carbonintensity", "priceoverlay")


def move_content_types(apps, schema_editor, *, old: str = "twin", new: str = "markets"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MODELS:
        if not ContentType.objects.using(db).filter(app_label=new, model=model).exists():
            ContentType.objects.using(db).filter(app_label=old, model=model).update(app_label=new)


def move_content_types_back(apps, schema_editor):
    move_content_types(apps, schema_editor, old="markets", new="twin")


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("markets", "0001_initial"),
        ("twin", "0005_market_models_moved"),
    ]

    operations = [
        *(migrations.AlterModelTable(name=model, table=None) for model in MODELS),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
