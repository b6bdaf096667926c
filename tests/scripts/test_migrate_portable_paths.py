"""scripts/migrate_portable_paths.py --outside: an absolute path beside the project (the shared data, typed
absolute to a run) becomes the relative path it would have been typed as from where the run started."""
from __future__ import annotations

import json
import sys

from helpers_paths import REPO

sys.path.insert(0, str(REPO / "scripts"))

import migrate_portable_paths as m  # noqa: E402


def test_outside_paths_become_relative_to_the_start_folder():
    text = '{"data_dir": "/srv/shared/data/x", "other": "/srv/sharedness/y", "k": "/srv/shared"}'
    out = m.relative_outside(text, ["/srv/shared/"], "/srv/proj")
    # Only the folder itself and paths under it; a longer name that starts the same is not under it.
    assert json.loads(out) == {"data_dir": "../shared/data/x", "other": "/srv/sharedness/y", "k": "../shared"}
    assert m.relative_outside(text, [], "/srv/proj") == text


def test_migrate_text_applies_it_before_the_portable_rules(tmp_path):
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"task": {"info": {"data_dir": "/srv/shared/d"}},
                                              "out": "/srv/proj/results/x"}))
    changed = m.migrate_text(tmp_path, ["/srv/proj"], ["/srv/shared"])
    assert json.loads(changed[run / "run.json"]) == {"task": {"info": {"data_dir": "../shared/d"}},
                                                     "out": "results/x"}
