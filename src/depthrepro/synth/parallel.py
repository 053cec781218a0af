"""Frames rendered in-process or over a spawn process pool; results in task order either way."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import cv2

T = TypeVar("T")
R = TypeVar("R")
MAX_DEFAULT_WORKERS = 8


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV threads inside each would oversubscribe


def map_frames(render: Callable[[T], R], tasks: Sequence[T], workers: int | None) -> list[R]:
    """`[render(t) for t in tasks]`, over `workers` processes (default: CPU count, at most 8)."""
    workers = workers if workers is not None else min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS)
    if workers <= 1:
        return [render(task) for task in tasks]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init) as pool:
        return list(pool.map(render, tasks, chunksize=2))
