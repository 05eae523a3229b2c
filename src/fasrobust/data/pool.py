"""Runs `extract_recording` over many recordings: cached ones are loaded, the rest are shared out to
a pool of `workers` processes (spawn, so it is safe beside TensorFlow and torch threads; each worker
loads its detector once), or done in this process when one worker is asked for.

Each finished recording is saved to its cache file by the process that extracted it, so killing
the run loses only the recordings in flight.

The pool is handed the largest files first: a long recording (a CASIA-FASD HR clip, a 720p ROSE-Youtu
video) taken last would keep one worker busy while the others sit idle at the end of the run. Results
are assembled by recording name afterwards, so the order changes nothing in the FaceSet.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape

from ..errors import DataError
from ..parallel import usable_workers
from ..progress import console, progress_bar
from .detect import Detector, create_detector
from .detect.annotations import AnnotationDetector
from .extract import (
    Extraction,
    ExtractOptions,
    NoFacePolicy,
    UnreadableCache,
    extract_recording,
    load_extraction,
    save_extraction,
)
from .records import Recording

Job = tuple[Recording, Path]  # a recording and its cache file


@dataclass
class PoolOutcome:
    extractions: list[Extraction] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)  # {"source", "error"} per unreadable file
    cache_hits: int = 0
    cache_notes: list[dict[str, str]] = field(default_factory=list)  # {"source", "note"} per unreadable entry
    extracted: int = 0
    detector_info: dict[str, Any] = field(default_factory=dict)


# Per process: the detector, built once (loading MTCNN's TensorFlow graph takes seconds).
_STATE: dict[str, Any] = {}


def _init(detector: str, options: dict[str, Any], fallback: bool) -> None:
    key = json.dumps([detector, options, fallback], sort_keys=True, default=str)
    if _STATE.get("key") != key:
        _STATE.update(key=key, detector=create_detector(detector, **options),
                      fallback=AnnotationDetector() if fallback else None)


def _work(recording: Recording, options: ExtractOptions, cache_file: Path) -> tuple[Extraction | None, str | None]:
    detector: Detector = _STATE["detector"]
    try:
        extraction = extract_recording(recording, options, detector, _STATE["fallback"])
    except DataError as exc:
        return None, str(exc)
    save_extraction(cache_file, extraction)
    return extraction, None


def _describe() -> dict[str, Any]:
    return _STATE["detector"].describe()


def run_extractions(jobs: Sequence[Job], options: ExtractOptions, *, detector_options: dict[str, Any],
                    workers: int, stop_on_error: bool) -> PoolOutcome:
    outcome = PoolOutcome()
    todo: list[Job] = []
    for recording, cache_file in jobs:
        cached = _cached(cache_file, recording, outcome)
        if cached is not None and cached.source == recording.key:
            outcome.extractions.append(cached)
            outcome.cache_hits += 1
        else:
            todo.append((recording, cache_file))
    info_file = jobs[0][1].parent / f"detector-{options.detector}.json" if jobs else None
    fallback = options.no_face is NoFacePolicy.ANNOTATION
    workers = max(1, min(usable_workers(workers), len(todo)))
    detector_options = _thread_share(options.detector, detector_options, workers)
    with progress_bar() as bar:
        task = bar.add_task("extracting faces", total=len(jobs), completed=outcome.cache_hits,
                            info=f"{outcome.cache_hits} from cache")

        def finished(recording: Recording, result: tuple[Extraction | None, str | None]) -> None:
            extraction, error = result
            if error is not None:
                if stop_on_error:
                    raise DataError(f"{error} (on_error: stop)")
                outcome.errors.append({"source": recording.key, "error": error})
            else:
                outcome.extractions.append(extraction)
                outcome.extracted += 1
            bar.update(task, advance=1, info=f"{outcome.cache_hits} cached | {len(outcome.errors)} unreadable")

        if todo and workers == 1:
            _init(options.detector, detector_options, fallback)
            outcome.detector_info = _describe()
            for recording, cache_file in todo:
                finished(recording, _work(recording, options, cache_file))
        elif todo:
            outcome.detector_info = _run_pool(todo, options, detector_options, fallback, workers, finished)
    if outcome.detector_info and info_file is not None:
        info_file.parent.mkdir(parents=True, exist_ok=True)
        info_file.write_text(json.dumps(outcome.detector_info))
    elif info_file is not None and info_file.is_file():
        outcome.detector_info = json.loads(info_file.read_text())
    return outcome


def _cached(cache_file: Path, recording: Recording, outcome: PoolOutcome) -> Extraction | None:
    """The cached extraction, or None; an unreadable entry is a miss (the recording is extracted again
    and its entry rewritten), noted in faceset.json and on the console, so a resume never needs the
    user to find and delete a broken file."""
    try:
        return load_extraction(cache_file)
    except UnreadableCache as exc:
        note = f"{exc}; extracted again"
        outcome.cache_notes.append({"source": recording.key, "note": note})
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
        return None


def _run_pool(todo: Sequence[Job], options: ExtractOptions, detector_options: dict[str, Any], fallback: bool,
              workers: int, finished) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    todo = sorted(todo, key=_file_size, reverse=True)  # largest first: no long recording left for last
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init,
                             initargs=(options.detector, detector_options, fallback)) as pool:
        try:
            describe = pool.submit(_describe)
            pending = {pool.submit(_work, recording, options, cache_file): recording
                       for recording, cache_file in todo}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    finished(pending.pop(future), future.result())
            return describe.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _file_size(job: Job) -> int:
    """A recording's file size, the cost estimate for ordering (0 where it cannot be read)."""
    try:
        return os.path.getsize(job[0].path)
    except OSError:
        return 0


def _thread_share(detector: str, options: dict[str, Any], workers: int) -> dict[str, Any]:
    """MTCNN's TensorFlow would take every core in every worker; give each worker its share."""
    if detector != "mtcnn" or "threads" in options:
        return dict(options)
    return {**options, "threads": max(1, (os.cpu_count() or 1) // workers)}
