"""The Celery application: heavy geospatial work runs here, one task per :class:`twin.models.Job`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("gridtwin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
