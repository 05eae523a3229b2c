"""The counter layout of `rng.py`'s random streams, apart from it so settings models can name the limits
it sets (how many generations a stream can count) without importing torch.

Counter = generation | stream | slot, so no two draws of one problem share a counter."""

_SLOT_BITS = 30
_STREAM_BITS = 6
_GEN_BITS = 63 - _SLOT_BITS - _STREAM_BITS
MAX_SLOTS = 1 << _SLOT_BITS
MAX_GENERATION = (1 << _GEN_BITS) - 1
