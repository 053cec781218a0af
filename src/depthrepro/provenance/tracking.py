"""MLflow runs with the project's provenance tags, on an explicit sqlite store under `results/`.

MLflow >= 3.13 refuses the `./mlruns` file store, and a stray `mlruns/` folder silently changes the
default URI, so the tracking URI and the artifact location are always set explicitly here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

EXPERIMENT = "depthrepro"


def tracking_uri(results_dir: Path) -> str:
    """`sqlite:///<results_dir>/mlflow.db` (absolute, so the working directory does not matter)."""
    return f"sqlite:///{(results_dir / 'mlflow.db').resolve()}"


@contextlib.contextmanager
def tracked_run(results_dir: Path, run_name: str, tags: Mapping[str, str],
                params: Mapping[str, Any]) -> Iterator[Any]:
    """An active MLflow run with `tags` and `params` logged; yields the `mlflow.ActiveRun`."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    import mlflow  # heavy (about 1 s); imported only by jobs that log

    mlflow.set_tracking_uri(tracking_uri(results_dir))
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        artifacts = (results_dir / "mlartifacts").resolve()
        try:
            mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts.as_uri())
        except mlflow.exceptions.MlflowException:
            if mlflow.get_experiment_by_name(EXPERIMENT) is None:  # not a lost race with a parallel job
                raise
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.set_tags(dict(tags))
        mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
        yield run
