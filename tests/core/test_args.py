"""The one typed argument builder (comam_bench.args): recipes, CoMAM's arguments and systems' constructors."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from comam_bench.args import ArgumentError, accepted, build, typed_args
from comam_bench.registry import RegistryError
from comam_bench.runner import Run, RunConfig
from comam_bench.systems.rag import RAG


@dataclass
class Inner:
    rate: float = 0.1


@dataclass
class Outer:
    steps: int = 1
    name: str | None = None
    on: bool = False
    inner: Inner = field(default_factory=Inner)
    tags: list[str] = field(default_factory=list)


def test_values_become_the_declared_types():
    out = build(Outer, {"steps": "3", "name": "null", "on": "yes", "inner": {"rate": "1e-5"}, "tags": ["a"]}, "t")
    assert out == Outer(3, None, True, Inner(1e-5), ["a"])
    assert build(Inner, {"rate": 2}, "t").rate == 2.0 and isinstance(build(Inner, {"rate": 2}, "t").rate, float)
    assert build(Outer, {"steps": 4.0}, "t").steps == 4


@pytest.mark.parametrize("args, message", [
    ({"step": 2}, r"t: unknown argument 'step'\. Did you mean 'steps'\? Accepted: inner, name, on, steps, tags\."),
    ({"steps": "x"}, r"t: steps must be of type int, got 'x'\. Accepted arguments: inner, name, on, steps, tags\."),
    ({"steps": 2.5}, "must be of type int"), ({"on": "maybe"}, "must be of type bool"),
    ({"steps": True}, "must be of type int"), ({"steps": None}, "steps cannot be empty"),
    ({"inner": {"rat": 1}}, r"t: inner: unknown argument 'rat'\. Did you mean 'rate'\?"),
    ({"tags": "a"}, "must be of type list"),
])
def test_a_bad_argument_is_named_with_the_accepted_ones_and_a_close_match(args, message):
    with pytest.raises(ArgumentError, match=message) as info:
        build(Outer, args, "t")
    assert isinstance(info.value, RegistryError)  # the CLI prints it as one paragraph


def test_a_system_accepts_its_constructor_parameters_and_its_arguments_dataclass():
    assert typed_args(RAG, {"top_k": "5", "piece_tokens": "none"}, "rag") == {"top_k": 5, "piece_tokens": None}
    from comam_bench.comam.system import CoMAM

    names = accepted(CoMAM)
    assert "checkpoint" in names and "memory_tokens" in names and "resources" not in names


def test_a_bad_system_argument_fails_before_any_run_directory_exists(tmp_path):
    cfg = RunConfig(task="personamem-mini", system="rag", model=None, embedder="hash:64",
                    results_dir=tmp_path / "results", system_args={"topk": 3})
    with pytest.raises(ArgumentError, match="Did you mean 'top_k'"):
        Run(cfg).prepare()
    assert not (tmp_path / "results").exists()
