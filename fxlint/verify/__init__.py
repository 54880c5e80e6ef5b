"""`fxlint verify`: prove that a model traces, matches eager and survives FX QAT.

Importing this package never imports torch; torch is imported only in worker subprocesses.
"""
