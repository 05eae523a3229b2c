"""Database readers, one module per database, registered by name: `get_reader(name, **options)
.scan(root, protocol=None) -> ScanResult(recordings, unplaced)`. Importing this package registers
every reader below."""

from . import casia_fasd, csv_manifest, folder, mask_attack, replay_attack, rose_youtu  # noqa: F401
from .base import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    DatabaseReader,
    ScanResult,
    available_readers,
    get_reader,
    reader_class,
    register_reader,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "DatabaseReader",
    "ScanResult",
    "available_readers",
    "get_reader",
    "reader_class",
    "register_reader",
]
