"""Experiment specs shipped with fasrobust: `paper` (the published grid), `paper-small` (the same
shape on the sample database, minutes on a 2-core CPU) and `demo` (what `fasrobust demo` runs)."""
