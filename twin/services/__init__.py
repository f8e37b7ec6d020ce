"""Domain logic of the twin as plain functions (no HTTP, no Celery)."""
