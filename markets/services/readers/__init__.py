"""Price readers, one per market format (see :mod:`markets.services.prices`)."""
