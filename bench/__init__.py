"""The benchmark: `samplan bench` or `python bench/run.py` (see bench/README.md)."""
