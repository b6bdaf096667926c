"""The OpenRLHF GPU environment: the [openrlhf] extra, the committed dry-run resolution report and constraints
(scripts/gpu_env_resolve.sh writes both; the resolution itself needs the package index, so it is not rerun
here), and the condensing of pip's report."""
from __future__ import annotations

import json
import sys

import pytest

from helpers_paths import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = REPO
sys.path.insert(0, str(ROOT / "scripts"))

import gpu_env_report  # noqa: E402

REPORT = ROOT / "results" / "gpu" / "openrlhf_env_resolution.json"
CONSTRAINTS = ROOT / "scripts" / "openrlhf-gpu-constraints.txt"


def test_the_extra_is_openrlhf_with_vllm_and_alone_with_the_core_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["openrlhf"] == ["openrlhf[vllm]==0.11.2"]
    assert project["license"] == "MIT"  # an SPDX string: no setuptools deprecation banner


def test_the_committed_resolution_has_openrlhfs_pins_and_matches_the_constraints():
    summary = json.loads(REPORT.read_text())
    assert gpu_env_report.check(summary) == []
    assert summary["key_pins"]["torch"] and summary["count"] == len(summary["packages"]) > 100
    assert not any("://" in json.dumps(p) for p in summary["packages"])  # no addresses, no local paths
    pinned = [line for line in CONSTRAINTS.read_text().splitlines() if line and not line.startswith("#")]
    assert pinned == [f"{p['name']}=={p['version']}" for p in summary["packages"] if p["kind"] not in ("local", "editable")]
    assert gpu_env_report.constraints(summary) == CONSTRAINTS.read_text()  # regenerates byte for byte


def _item(name, version, url, requested=False, editable=False):
    info = {"url": url}
    if editable:
        info["dir_info"] = {"editable": True}
    elif url.startswith("http"):
        info["archive_info"] = {"hashes": {"sha256": "ab" * 32}}
    return {"metadata": {"name": name, "version": version}, "download_info": info, "requested": requested}


def test_condense_keeps_versions_kinds_and_hashes_and_flags_a_wrong_pin():
    pip_report = {"pip_version": "26.3", "environment": {"implementation_name": "cpython",
                                                         "python_full_version": "3.12.3", "sys_platform": "linux",
                                                         "platform_machine": "x86_64"},
                  "install": [_item("Flash_Attn", "2.8.3", "https://files.example/flash_attn-2.8.3.tar.gz"),
                              _item("vllm", "0.30.0", "https://files.example/vllm-0.30.0-cp38-abi3-any.whl"),
                              _item("comam-bench", "0.1.0", "file:///work/x", requested=True)]}
    summary = gpu_env_report.condense(pip_report)
    assert [(p["name"], p["kind"]) for p in summary["packages"]] == \
        [("comam-bench", "local"), ("flash-attn", "sdist"), ("vllm", "wheel")]
    assert summary["packages"][1]["sha256"] == "ab" * 32 and summary["packages"][0]["requested"]
    problems = gpu_env_report.check(summary)
    assert "vllm: expected 0.29.0, resolved 0.30.0" in problems and any(p.startswith("openrlhf:") for p in problems)
    assert "comam-bench" not in gpu_env_report.constraints(summary)


def test_the_report_script_exits_1_on_a_wrong_pin(tmp_path):
    raw = tmp_path / "pip.json"
    raw.write_text(json.dumps({"install": [_item("vllm", "0.30.0", "https://x/vllm-0.30.0-py3-none-any.whl")]}))
    assert gpu_env_report.main([str(raw), str(tmp_path / "out.json")]) == 1
    assert json.loads((tmp_path / "out.json").read_text())["key_pins"]["vllm"] == "0.30.0"
    assert gpu_env_report.main([]) == 2  # usage
