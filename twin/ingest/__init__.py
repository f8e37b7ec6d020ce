"""The twin's ingestion wing: everything that brings assets into the twin from files.

* :mod:`~twin.ingest.base` — what every importer shares: row validation, idempotent upserts by
  ``source_id``, vanished assets, atomic writes and the one report format;
* :mod:`~twin.ingest.sources` — plumbing of the file readers (tables, regions, job options);
* one reader per source: :mod:`~twin.ingest.osm` (with :mod:`~twin.ingest.osm_tags`),
  :mod:`~twin.ingest.layers` (GIS layers), :mod:`~twin.ingest.afdc`, :mod:`~twin.ingest.gridkit`,
  :mod:`~twin.ingest.pandapower`;
* :mod:`~twin.ingest.uploads` — uploaded files handed to an import job;
* :mod:`~twin.ingest.signals` — what importers tell other apps (which then add their own rows).

Price and carbon files are markets' data and are read by the markets app (``markets.services``).
"""
