"""`make bench`: the benchmark suite. Run with `python -m bench.run --help`."""
