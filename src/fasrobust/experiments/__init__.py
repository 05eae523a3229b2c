"""Experiments stage: specs of grids (the paper's tables as presets), the SQLite results store,
and executors that run jobs in-process or on Ray."""
