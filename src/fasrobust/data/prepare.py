"""The data stage's entry point: a database on disk -> a balanced FaceSet (`fasrobust prepare`).

scan (a reader by name) -> per recording, in a process pool: sample frames, detect, crop (cached as
`<out>/.cache/<key>.npz`, key = hash of the extraction settings and the recording's name, size and
mtime, so a re-run or a run resumed after a kill redoes only what is missing) -> balance per split
-> `FaceSet.write` (atomic) with faceset.json recording the resolved settings, the detector, the
no-face statistics, every unreadable file, the input fingerprint and the package versions.

Once the FaceSet is written, cache entries this run did not use (other settings, files that changed
since, an older cache format) are deleted, so the cache holds one entry per recording rather than
growing with every change of settings; faceset.json's "cache" counts them ("pruned", "pruned_bytes").
`keep_cache` keeps them all (for switching back and forth between settings). A run that fails or is
interrupted never prunes, and only our own files are touched (`<key>.npz` entries and the temporary
files of their atomic writes); anything else a user puts in `.cache` stays.

The input fingerprint hashes each file's relative name, size and modification time (not its bytes:
hashing a 10 GB database would cost more than preparing it); a changed file changes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from ..errors import ConfigError, DataError
from ..paper import TABLE1_CAPS
from ..progress import console
from ..settings import Settings
from .balance import balance, check_subject_disjoint
from .crop import BorderMode
from .detect import AUTO, resolve_detector_name
from .detect.annotations import annotation_file
from .extract import STAT_KEYS, Extraction, ExtractOptions, NoFacePolicy
from .faceset import META_COLUMNS, FaceSet
from .frames import ImagePolicy
from .pool import PoolOutcome, run_extractions
from .records import Recording, Split

SAMPLE_DATABASE = "sample"
CACHE_DIR = ".cache"
#: Our files in CACHE_DIR: a `<key>.npz` entry, or the `.<key>.npz.<random>` temporary file of its
#: atomic write (left behind only when a worker is killed mid-write).
_CACHE_FILE = re.compile(r"[0-9a-f]{32}\.npz|\.[0-9a-f]{32}\.npz\.\w+")


class OnError(StrEnum):
    CONTINUE = "continue"  # count, report in faceset.json, go on
    STOP = "stop"  # the first unreadable file ends the run with its one-line error


class PrepareSettings(Settings):
    """Everything `prepare` needs; saved resolved into faceset.json."""

    database: str = Field(min_length=1, description="a registered reader's name (`fasrobust prepare --help` "
                          "lists them) or 'sample' for the embedded synthetic database")
    root: Path | None = Field(None, validate_default=True)
    protocol: str | None = None
    reader_options: dict[str, Any] = Field(default_factory=dict)
    out: Path
    frames_per_video: int = Field(10, ge=1, le=100_000)
    detector: str = AUTO
    detector_options: dict[str, Any] = Field(default_factory=dict)
    no_face: NoFacePolicy = NoFacePolicy.SKIP
    margin: float = Field(0.2, ge=0.0, le=2.0)
    border: BorderMode = BorderMode.SHIFT
    size: int = Field(32, ge=4, le=1024)
    images: ImagePolicy = ImagePolicy.CONVERT
    balance: bool = True
    caps: Literal["table1"] | dict[Split, dict[Literal["live", "spoof"], int]] | None = None
    allow_missing_class: bool = False
    seed: int = 0
    workers: int = Field(1, ge=1, le=256)
    on_error: OnError = OnError.CONTINUE
    # Keep cache entries this run did not use instead of pruning them. Housekeeping, not content:
    # left out of dumps, so it changes neither faceset.json's settings nor an experiment's job ids.
    keep_cache: bool = Field(False, exclude=True)

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, name: str) -> str:
        try:
            resolve_detector_name(name)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("detector: ")) from None
        return name

    @field_validator("root")
    @classmethod
    def _root_given(cls, root: Path | None, info) -> Path | None:
        if root is None and info.data.get("database") not in (SAMPLE_DATABASE, None):
            raise ValueError(f"a database root is needed for database '{info.data.get('database')}'")
        return root

    def resolved_caps(self) -> dict[str, dict[str, int]]:
        if self.caps is None:
            return {}
        if self.caps == "table1":
            if self.database not in TABLE1_CAPS:
                raise ConfigError(f"caps: the paper's Table 1 has no row for database '{self.database}' "
                                  f"(rows: {', '.join(TABLE1_CAPS)})")
            return TABLE1_CAPS[self.database]
        return {str(split): dict(per_class) for split, per_class in self.caps.items()}


def prepare(settings: PrepareSettings) -> FaceSet:
    """Scan the database, extract, balance and write the FaceSet to `settings.out`."""
    recordings, unplaced, root, synthetic = scan_database(settings)
    return prepare_recordings(settings, recordings, unplaced=unplaced, root=root, synthetic=synthetic)


def scan_database(settings: PrepareSettings) -> tuple[list[Recording], list[Any], Path, bool]:
    """The reader's recordings, the files it could not place, the root, and whether it is synthetic."""
    from .readers import get_reader

    name, root, synthetic, options = settings.database, settings.root, False, settings.reader_options
    if name == SAMPLE_DATABASE:  # reader options choose what to generate; the layout is Replay-Attack's
        from .sample import open_sample_database

        root, name, synthetic = open_sample_database(settings.root, options), "replay-attack", True
        options = {}
    scan = get_reader(name, **options).scan(Path(root), protocol=settings.protocol)
    if not scan.recordings:
        raise DataError(f"no recordings found for database '{settings.database}'"
                        + (f" (protocol {settings.protocol})" if settings.protocol else ""), root)
    return list(scan.recordings), list(scan.unplaced), Path(root), synthetic


def prepare_recordings(settings: PrepareSettings, recordings: Sequence[Recording], *,
                       unplaced: Sequence[Any] = (), root: Path | None = None,
                       synthetic: bool = False) -> FaceSet:
    """Extract, balance and write a FaceSet from recordings already scanned."""
    _check_out(Path(settings.out))
    check_subject_disjoint(pd.DataFrame({"subject": [r.subject for r in recordings],
                                         "split": [str(r.split) for r in recordings]}))
    caps = settings.resolved_caps()
    detector = resolve_detector_name(settings.detector)
    _check_annotations(detector, recordings, settings.database, root)
    options = ExtractOptions(settings.frames_per_video, detector, settings.no_face, settings.margin,
                             settings.border, settings.size, settings.images)
    recordings = sorted(recordings, key=lambda r: r.key)
    fingerprints = [_fingerprint(r) for r in recordings]
    cache = Path(settings.out) / CACHE_DIR
    jobs = [(r, cache / f"{_cache_key(options, settings.detector_options, f)}.npz")
            for r, f in zip(recordings, fingerprints, strict=True)]
    outcome = run_extractions(jobs, options, detector_options=settings.detector_options,
                              workers=settings.workers, stop_on_error=settings.on_error is OnError.STOP)
    by_source = {r.key: r for r in recordings}
    images, meta = _assemble(outcome.extractions, by_source, settings.size)
    keep, warnings = balance(meta, seed=settings.seed, equalise=settings.balance, caps=caps,
                             allow_missing_class=settings.allow_missing_class)
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    balancing = {"equalise": settings.balance, "caps": caps, "seed": settings.seed,
                 "before": FaceSet(images, meta, {}).counts(), "warnings": warnings}
    meta = meta.iloc[keep].reset_index(drop=True)
    meta["id"] = np.arange(len(meta))
    stale = [] if settings.keep_cache else _unused_cache_files(cache, {file.name for _, file in jobs})
    cache_info = {"hits": outcome.cache_hits, "extracted": outcome.extracted, "pruned": len(stale),
                  "pruned_bytes": sum(size for _, size in stale)}
    info = _info(settings, detector, outcome, balancing, fingerprints, len(recordings), unplaced,
                 root, synthetic, cache_info)
    faces = FaceSet(np.ascontiguousarray(images[keep]), meta, info)
    if len(faces) == 0:
        first = f", e.g. {outcome.errors[0]['error']}" if outcome.errors else ""
        raise DataError(f"no face crops were produced ({len(outcome.errors)} unreadable recording(s){first})",
                        settings.out)
    faces.write(settings.out, keep=(CACHE_DIR,))
    for path, _ in stale:  # only now that the FaceSet is written: a failed run keeps every entry
        path.unlink(missing_ok=True)
    return FaceSet.load(settings.out)


def _info(settings: PrepareSettings, detector: str, outcome: PoolOutcome, balancing: dict[str, Any],
          fingerprints: Sequence[str], scanned: int, unplaced: Sequence[Any], root: Path | None,
          synthetic: bool, cache: dict[str, int]) -> dict[str, Any]:
    """faceset.json (FaceSet.write adds counts, image size and the environment)."""
    return {
        "database": settings.database,
        "synthetic": synthetic,
        **(_sample_facts(root) if synthetic else {}),
        "root": str(root) if root else None,
        "settings": settings.model_dump(mode="json"),
        "detector": outcome.detector_info or {"name": detector},
        "frame_sampling": "centres of N equal segments: index_k = floor((k + 0.5) * T / N), all frames if N >= T",
        "crop": {"margin": settings.margin, "margin_rule": "square side = longer box side x (1 + 2 x margin)",
                 "border": settings.border.value, "size": settings.size, "resize": "PIL Lanczos"},
        "recordings": {"scanned": scanned, "extracted": len(outcome.extractions),
                       "failed": len(outcome.errors), "unplaced": len(unplaced)},
        "unplaced": [_unplaced(u) for u in unplaced],
        "no_face": _sum_stats(outcome.extractions),
        "errors": outcome.errors,
        "notes": _notes(outcome.extractions) + outcome.cache_notes,
        "balance": balancing,
        "cache": cache,
        "input_fingerprint": {"method": "sha256 of relative name, size, mtime per file",
                              "files": len(fingerprints),
                              "sha256": hashlib.sha256("\n".join(fingerprints).encode()).hexdigest()},
    }


def _unused_cache_files(cache: Path, used: set[str]) -> list[tuple[Path, int]]:
    """Our files in `cache` (see _CACHE_FILE) that are not among `used`, with their sizes."""
    if not cache.is_dir():
        return []
    unused = []
    for path in sorted(cache.iterdir()):
        if _CACHE_FILE.fullmatch(path.name) and path.name not in used and path.is_file():
            unused.append((path, path.stat().st_size))
    return unused


def _check_annotations(detector: str, recordings: Sequence[Recording], database: str,
                       root: Path | None) -> None:
    """The annotations detector finds a face only where the database ships its face locations: with
    none at all, say so before extracting, rather than end on "no face crops were produced"."""
    if detector != "annotations" or any(annotation_file(r) for r in recordings):
        return
    raise DataError(f"detector 'annotations' needs the face locations a database ships (.face files, 3DMAD "
                    f"Eye_Pos), and none of the {len(recordings)} recordings of database '{database}' has "
                    "them; choose --detector mtcnn, cascade or auto", root)


def _check_out(out: Path) -> None:
    """Writing replaces `out`: refuse a folder that holds anything but a FaceSet and our cache."""
    if out.exists() and not out.is_dir():
        raise DataError("output path exists and is not a folder", out)
    ours = {"images.npy", "meta.csv", "faceset.json", CACHE_DIR}
    if out.is_dir() and (others := sorted(p.name for p in out.iterdir() if p.name not in ours)):
        raise DataError(f"output folder holds other files ({', '.join(others[:3])}); "
                        "choose an empty or new folder, or a previous FaceSet", out)


def _assemble(extractions: Sequence[Extraction], by_source: dict[str, Recording],
              size: int) -> tuple[np.ndarray, pd.DataFrame]:
    rows, blocks = [], []
    for extraction in sorted(extractions, key=lambda e: e.source):
        recording = by_source[extraction.source]
        blocks.append(extraction.crops)
        for frame, box, name in zip(extraction.frames, extraction.boxes, extraction.detectors, strict=True):
            rows.append({"label": recording.label.value, "attack_type": recording.attack_type,
                         "subject": str(recording.subject), "split": str(recording.split),
                         "source": recording.key, "frame": int(frame), "box_x": int(box[0]),
                         "box_y": int(box[1]), "box_w": int(box[2]), "box_h": int(box[3]), "detector": name})
    images = np.concatenate(blocks) if blocks else np.empty((0, size, size, 3), np.uint8)
    meta = pd.DataFrame(rows, columns=[c for c in META_COLUMNS if c != "id"])
    meta.insert(0, "id", np.arange(len(meta)))
    return images, meta


def _unplaced(entry: Any) -> dict[str, str]:
    if isinstance(entry, tuple) and len(entry) == 2:
        return {"path": str(entry[0]), "reason": str(entry[1])}
    return {"path": str(entry), "reason": ""}


def _fingerprint(recording: Recording) -> str:
    parts = [recording.key]
    for path in (recording.path, recording.annotations):
        if path is not None:
            try:
                stat = os.stat(path)
                parts += [str(stat.st_size), str(stat.st_mtime_ns)]
            except OSError:
                parts.append("missing")
    return "\t".join(parts)


def _cache_key(options: ExtractOptions, detector_options: dict[str, Any], fingerprint: str) -> str:
    tuning = {k: v for k, v in detector_options.items() if k != "threads"}  # threads change speed only
    text = json.dumps({"options": options.token(), "detector_options": tuning, "input": fingerprint},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _sum_stats(extractions: Sequence[Extraction]) -> dict[str, int]:
    totals = dict.fromkeys(STAT_KEYS, 0)
    for extraction in extractions:
        for key, value in extraction.stats.items():
            totals[key] = totals.get(key, 0) + int(value)
    return totals


def _sample_facts(root: Path | None) -> dict[str, Any]:
    """What faceset.json says of the SYNTHETIC sample database: that it is synthetic, and which simulated
    recording site (domain) it comes from, read from the database's own manifest."""
    import json

    from .sample.build import MANIFEST

    manifest: dict[str, Any] = {}
    if root is not None and (Path(root) / MANIFEST).is_file():
        manifest = json.loads((Path(root) / MANIFEST).read_text())
    domain = str(manifest.get("domain", "a"))
    return {"note": f"SYNTHETIC sample database (simulated recording site {domain}), generated from public "
                    "photographs; not a real anti-spoofing database",
            "sample_domain": domain, "sample_site": manifest.get("site")}


def _notes(extractions: Sequence[Extraction]) -> list[dict[str, str]]:
    return [{"source": e.source, "note": note} for e in extractions for note in e.notes]
