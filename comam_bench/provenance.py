"""Where a plugin system's code comes from, for the run record and the spec hash.

A built-in needs nothing here (the record's git commit and comam-bench version say which code ran). A plugin
records its distribution and version when it belongs to one, and always the sha256 of the source file that
defines its class, so `--resume` after an edit (even of an editable install) is refused rather than mixing
answers of two versions. Only that one file is hashed: edits to other modules of a plugin package are not seen.
"""
from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from typing import Any

from comam_bench.registry import SystemSpec, entry_point_claims


def system_code(spec: SystemSpec, cls: type) -> dict[str, Any] | None:
    """{"module", "sha256", ["distribution", "version"]} for a plugin's class; None for a built-in."""
    module_name = cls.__module__
    if module_name == "comam_bench" or module_name.startswith("comam_bench."):
        return None
    out: dict[str, Any] = {"module": module_name}
    path = getattr(sys.modules.get(module_name), "__file__", None)
    if path:
        from comam_bench.llm.spec import file_sha256

        out["sha256"] = file_sha256(path)
    dist = _distribution(spec, module_name)
    if dist:
        out["distribution"], out["version"] = dist
    return out


def _distribution(spec: SystemSpec, module_name: str) -> tuple[str, str] | None:
    if spec.source == "entry-point":
        claims = entry_point_claims().get(spec.name)
        if claims:
            return claims[0][0], claims[0][1]
    for name in packages_distributions().get(module_name.split(".")[0], []):
        try:
            return name, version(name)
        except PackageNotFoundError:
            continue
    return None
