"""The trainer interface: a backend named by a recipe's `backend:` key, resolved through the registry.

    results = train_recipe("smoke", sets=["train.max_steps=2"])

Built-in backends are listed in registry.BUILTIN_TRAINERS ("local" -> comam_bench.training.local:LocalTrainer);
plugins register under the entry-point group comam_bench.trainers, or are named as package.module:Class.
A Trainer gets a checked Recipe and returns a TrainResult; `progress(event, **fields)` reports as it goes
(events: start, step, validation, checkpoint, phase, final), the way the runner reports answered questions.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ClassVar, Sequence

from comam_bench.registry import TRAINERS, RegistryError
from comam_bench.training.recipe import Recipe, expand_sweep, load_recipe

ProgressFn = Callable[..., None]


@dataclass
class TrainResult:
    """Where a training run left its outputs, and the final evaluation's headline."""

    recipe: str
    output_dir: str
    checkpoint: str | None = None
    steps: int = 0
    metrics: str | None = None  # metrics.jsonl
    plot: str | None = None  # training_curves.png
    final_run: dict[str, Any] | None = None  # {"run_id", "accuracy", "n", "dir"} of the harness evaluation
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Trainer(ABC):
    """A training backend. Subclasses set `name` and `description` and implement `train`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # The systems (by class name) whose policies this backend knows how to train; a backend names its own,
    # so no system is assumed here.
    systems: ClassVar[tuple[str, ...]] = ()

    def __init__(self, progress: ProgressFn | None = None, **kwargs: Any) -> None:
        self.progress: ProgressFn = progress or (lambda event, **fields: None)
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unknown arguments {sorted(kwargs)}")

    @abstractmethod
    def train(self, recipe: Recipe) -> TrainResult:
        """Train as the recipe says; write checkpoints, metrics and the final evaluation."""


def trainer_class(backend: str) -> type[Trainer]:
    """The Trainer class a backend name stands for (built-in, entry point, or package.module:Class)."""
    cls = TRAINERS.load(backend)
    if not (isinstance(cls, type) and issubclass(cls, Trainer)):
        raise RegistryError(f"trainer backend {backend!r} is not a comam_bench.training.base.Trainer subclass")
    return cls


def check_system(recipe: Recipe, trainer: type[Trainer]) -> None:
    """Refuse a recipe whose system is not trainable, or that this backend does not know how to train."""
    from comam_bench.registry import resolve_system, system_class

    cls = system_class(resolve_system(recipe.system))
    backend = trainer.name or trainer.__name__
    trains = ", ".join(trainer.systems) or "no system (its class names none in `systems`)"
    if not cls.trainable:
        raise RegistryError(f"system {recipe.system!r} is not trainable: it has no policies to update. "
                            f"Name a trainable system in the recipe's `system:` key (backend {backend!r} "
                            f"trains {trains}).")
    if cls.name not in trainer.systems:
        raise RegistryError(f"trainer backend {backend!r} trains {trains}; "
                            f"{recipe.system!r} is trainable (policies: {', '.join(cls.policies)}) but needs a "
                            "backend that knows its policies.")


def train_recipe(name: str, sets: Sequence[str] = (), progress: ProgressFn | None = None,
                 **trainer_kwargs: Any) -> list[TrainResult]:
    """Load a recipe (with --set overrides), expand its sweep, train each variant with its backend."""
    recipe: Recipe = load_recipe(name, sets)
    results = []
    for variant in expand_sweep(recipe):
        cls = trainer_class(variant.backend)
        check_system(variant, cls)
        results.append(cls(progress=progress, **trainer_kwargs).train(variant))
    return results
