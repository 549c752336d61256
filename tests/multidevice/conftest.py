"""The scripts here are not test modules: each runs in its own process with 8
simulated devices (started by ``tests/scaleout/test_multidevice.py``). Importing one
in the pytest process (``--doctest-modules`` would) must not happen."""

collect_ignore_glob = ["*.py"]
