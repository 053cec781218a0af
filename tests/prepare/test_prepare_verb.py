"""`depthrepro prepare <step>`: steps dispatched to their own verb modules, imported only when run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from depthrepro.cli import main
from depthrepro.verbs.prepare import STEPS


def test_every_step_names_a_verb_module_with_its_arguments() -> None:
    assert list(STEPS) == ["jpeg", "gt", "depth-hints", "colmap-poses", "odometry-tree", "nyu-tree", "--report"]
    for name, (module, _) in STEPS.items():
        verb = __import__(f"depthrepro.verbs.{module}", fromlist=["add_arguments", "run"])
        assert callable(verb.add_arguments) and callable(verb.run), name


@pytest.mark.parametrize("argv", [["prepare"], ["prepare", "prepare-jpeg"], ["prepare", "--quality", "92"]])
def test_a_missing_or_unknown_step_is_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "jpeg" in capsys.readouterr().err


def test_only_the_step_that_runs_is_imported() -> None:
    """`prepare gt` loads the GT export and nothing of the other steps (nor torch), so the rule's code digest
    (that module's import closure plus the step table) covers what runs."""
    script = ("import sys\nfrom depthrepro.cli import main\ntry:\n    main(['prepare', 'gt', '--help'])\n"
              "except SystemExit as e:\n    assert e.code == 0\n"
              "print(' '.join(sorted(m for m in sys.modules if m.startswith('depthrepro.') or m == 'torch')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert "depthrepro prepare gt" in done.stdout.splitlines()[0]
    assert {"depthrepro.verbs.prepare", "depthrepro.verbs.export_gt", "depthrepro.prepare.gt_export"} <= loaded
    assert not loaded & {"torch", "depthrepro.verbs.depth_hints", "depthrepro.verbs.prepare_jpeg",
                         "depthrepro.verbs.colmap_poses", "depthrepro.verbs.prepare_report"}
