"""Condenses pip's `--dry-run --report` of the OpenRLHF GPU environment into the committed resolution report.

    python scripts/gpu_env_report.py PIP_REPORT.json OUT.json [CONSTRAINTS.txt]

Keeps what makes the resolution reproducible and checkable (each package's name, version, archive kind and
sha256, the pins that matter to the CoMAM job) and drops download addresses and the resolving machine's
paths. Exits 1, saying which, when a pin that the job relies on did not resolve as OpenRLHF 0.11.2 pins it.
With CONSTRAINTS.txt, also writes the resolved versions as a pip constraints file (`name==version`, the
project itself left out), so a node installs exactly the set that was resolved. Standard library only.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

# What openrlhf 0.11.2's metadata pins (its [vllm] extra included), as the job needs them.
EXPECTED = {"openrlhf": "0.11.2", "vllm": "0.29.0", "transformers": "5.15.0", "ray": "2.55.0",
            "deepspeed": "0.19.6", "flash-attn": "2.8.3"}


def _name(item: dict) -> str:
    return item["metadata"]["name"].lower().replace("_", "-")


def condense(report: dict) -> dict:
    """The committed form of pip's report."""
    packages = []
    for item in report["install"]:
        info = item["download_info"]
        url = info.get("url", "")
        kind = "editable" if info.get("dir_info", {}).get("editable") else \
            "wheel" if url.endswith(".whl") else "local" if url.startswith("file:") else "sdist"
        sha = (info.get("archive_info") or {}).get("hashes", {}).get("sha256")
        packages.append({"name": _name(item), "version": item["metadata"]["version"], "kind": kind,
                         **({"sha256": sha} if sha else {}), **({"requested": True} if item.get("requested") else {})})
    packages.sort(key=lambda p: p["name"])
    versions = {p["name"]: p["version"] for p in packages}
    env = report.get("environment", {})
    return {"what": "pip install --dry-run --report of comam-bench[openrlhf] (scripts/gpu_env_resolve.sh)",
            "pip_version": report.get("pip_version"),
            "resolved_for": {k: env.get(k) for k in ("implementation_name", "python_full_version",
                                                     "sys_platform", "platform_machine")},
            "key_pins": {k: versions.get(k) for k in (*EXPECTED, "torch")},
            "count": len(packages), "packages": packages}


def check(summary: dict) -> list[str]:
    """Pins that did not resolve as expected."""
    return [f"{k}: expected {v}, resolved {summary['key_pins'].get(k)}" for k, v in EXPECTED.items()
            if summary["key_pins"].get(k) != v]


def constraints(summary: dict) -> str:
    """pip constraints pinning every resolved package except the project itself."""
    lines = [f"{p['name']}=={p['version']}" for p in summary["packages"] if p["kind"] not in ("local", "editable")]
    return ("# The OpenRLHF GPU environment as resolved by scripts/gpu_env_resolve.sh (do not edit by hand):\n"
            f"# {summary['count']} packages for {summary['resolved_for']['implementation_name']} "
            f"{summary['resolved_for']['python_full_version']} on {summary['resolved_for']['sys_platform']} "
            f"{summary['resolved_for']['platform_machine']}.\n" + "\n".join(lines) + "\n")


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    summary = condense(json.loads(Path(argv[0]).read_text()))
    out = Path(argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    if len(argv) == 3:
        Path(argv[2]).write_text(constraints(summary))
    bad = check(summary)
    print(f"{out}: {summary['count']} packages resolved; key pins {summary['key_pins']}")
    for line in bad:
        print(f"unexpected: {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
