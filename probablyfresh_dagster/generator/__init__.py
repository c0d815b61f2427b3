"""Deterministic generator of the ProbablyFresh source files.

`config` says what a generation writes; `records` and `purchases` fake it (`calendar` holds what
they share), `purchase_workers` draws a batch file's purchases on every core; `formats` turns records
into files; `own_files` writes them, replacing and removing only the generator's own; `writing`
runs a generation under its lock; `__main__` is the command line.
"""
