"""Database readers, one module per database, registered by name in `READERS` (which finds every module
of this package, and the plug-ins of the entry-point group `fasrobust.readers`): `get_reader(name,
**options).scan(root, protocol=None) -> ScanResult(recordings, unplaced)`."""

from .base import (
    IMAGE_SUFFIXES,
    READERS,
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
    "READERS",
    "VIDEO_SUFFIXES",
    "DatabaseReader",
    "ScanResult",
    "available_readers",
    "get_reader",
    "reader_class",
    "register_reader",
]
