# The benchmark is not a test suite: `pytest` run from here (or on the whole checkout) collects nothing.
collect_ignore_glob = ["*.py"]
