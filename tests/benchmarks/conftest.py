# The benchmark harness is run by hand (`python tests/benchmarks/run_all.py`), never by pytest:
# it downloads corpora, builds virtual environments and takes up to 30 minutes.
collect_ignore_glob = ["*"]
