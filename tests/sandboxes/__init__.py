"""Partner sandboxes: stand-ins for the carrier aggregator and the WMS / 3PL that speak the real
protocols over real HTTP on 127.0.0.1 (DESIGN.md §7), for the demo and the end-to-end, fault and
benchmark suites. Each module also runs on its own: ``python tests/sandboxes/carrier.py --help``.
"""
