"""Static files storage of the embedded mode (see ``STORAGES`` in config/settings.py)."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ManifestOrPlainStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """whitenoise's hashed, compressed files where ``collectstatic`` has run; the plain name for
    a file its manifest lacks (no ``collectstatic`` yet, or a file added since), which WhiteNoise
    then serves from the apps' static folders (``WHITENOISE_USE_FINDERS``).

    So a fresh clone's ``manage.py migrate && manage.py runserver`` renders its pages instead of
    failing with "Missing staticfiles manifest entry". Production keeps the strict parent class.
    """

    def stored_name(self, name: str) -> str:
        try:
            return super().stored_name(name)
        except ValueError:  # not in the manifest (strict), or not collected (not strict)
            return name
