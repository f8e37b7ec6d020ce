"""The benchmarks (see README.md): one script each, run by ``make bench``; ``bench.common`` holds
what they share. A package so that the test suite can import their seeding functions."""
