"""Benchmarks of gaama_async against curl, aria2c and gaama 0.7.2 (issue 3).

Run with ``python -m benchmarks`` or ``make bench``. Not collected by pytest: timing belongs
here, against a local server in its own process, never in the unit tests.
"""
