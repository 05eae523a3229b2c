"""The batched machinery the attacks run on (attack stage): the DE engine (`de.py`, its hyperparameters
in `de_config.py`), the candidate canvas (`canvas.py`), and the counter-based random streams (`rng.py`,
`counter_layout.py`) that make every image's result independent of its batch. Not plug-ins: nothing here
registers an attack, and the registry does not import this subpackage, so torch is imported only when an
attack runs."""
