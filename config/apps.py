from django.contrib.staticfiles.apps import StaticFilesConfig


class GridTwinStaticFilesConfig(StaticFilesConfig):
    """collectstatic without the npm packages' development builds, type stubs and module maps."""

    ignore_patterns = [*StaticFilesConfig.ignore_patterns, "*-dev.mjs", "*.mjs.map", "*.d.ts"]
