"""Benchmarks that reproduce the papers' tables and the speed figures; each writes results/<name>.json + .md."""
