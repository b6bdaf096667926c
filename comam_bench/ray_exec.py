"""Contexts as Ray work: workers (actors) that load the model once and take contexts until none are left.

`--ray auto` joins the cluster `ray start --head` started (or RAY_ADDRESS), `--ray local` starts a private
one on this machine for the run, `--ray HOST:PORT` (or `ray://HOST:PORT`) joins that cluster. Each worker
asks for `--ray-num-cpus` / `--ray-num-gpus` and runs up to `--parallel` contexts at once on its own system
instances (a WorkerPool, as a threaded run has in one process). Rows stream back to the driver as they are
made (a Ray streaming generator per context); only the driver writes the run directory.

A worker that dies loses only the contexts it had in flight: the others go on and finish, and the run ends
with an error naming the lost contexts, which `--resume` finishes. Ray is imported only here, only when
asked for; every node needs comam-bench (and any plugin system's module) importable.
"""
from __future__ import annotations

import queue
import socket
import threading
import time
from collections import deque
from typing import Any, Sequence

from comam_bench.errors import RunError
from comam_bench.pool import WorkerPool, _short, raise_failures

INSTALL = "pip install 'comam-bench[ray]'"
REACH_SECONDS = 5.0  # a cluster address that does not accept a connection by then is reported, not waited on


def import_ray():
    """Ray, or a RunError with the install line."""
    try:
        import ray
    except ImportError:
        raise RunError(f"--ray needs Ray, which is not installed here. Install it with `{INSTALL}` (on every "
                       "node of the cluster too), or run without --ray (--parallel N runs contexts at once "
                       "in this process).") from None
    return ray


def cluster_address(spec: str) -> tuple[str, int] | None:
    """(host, port) a `--ray` value points at; None for `local`. `auto` asks Ray where its cluster is."""
    if spec == "local":
        return None
    address = spec
    if spec == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address_or_die
        except ImportError:  # a Ray without this helper: let ray.init find the cluster itself
            return None
        try:
            address = canonicalize_bootstrap_address_or_die("auto")
        except ConnectionError:
            raise RunError("--ray auto: no running Ray cluster found on this machine (and RAY_ADDRESS is not set). "
                           "Start one with `ray start --head --num-cpus N [--num-gpus G]`, pass its address "
                           "(--ray HOST:PORT), or use --ray local for a private one.") from None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RunError(f"--ray {spec!r}: expected auto, local, HOST:PORT or ray://HOST:PORT")
    return host, int(port)


def check_reachable(spec: str, where: tuple[str, int]) -> None:
    """A quick TCP connect: ray.init would otherwise retry an unreachable address for minutes."""
    try:
        socket.create_connection(where, timeout=REACH_SECONDS).close()
    except OSError as exc:
        raise RunError(f"--ray {spec!r}: no Ray cluster answers at {where[0]}:{where[1]} ({exc.__class__.__name__}). "
                       "Check the address, or start the head node there with `ray start --head`.") from None


class RayExecutor:
    """Contexts handed out to Ray workers; rows written by this (driver) process only."""

    mode = "ray"

    def __init__(self, run) -> None:
        self.run = run
        self.actors: list[Any] = []
        self.owns_ray = False
        self.sharing: str | None = None
        self.reported: dict[str, Any] | None = None
        self.workers = 0
        self.start_seconds = 0.0

    def connect(self) -> None:
        """Join (or start) the cluster and check that one worker fits, before any run directory exists."""
        ray, cfg = import_ray(), self.run.cfg
        if self.run.given_llm is not None:
            raise RunError("--ray: workers load the model from its spec; a model object handed to Run cannot be "
                           "sent to them. Pass the model spec instead.")
        if cfg.ray_num_cpus < 0 or cfg.ray_num_gpus < 0 or (cfg.ray_workers is not None and cfg.ray_workers < 1):
            raise RunError("--ray-num-cpus and --ray-num-gpus must be 0 or more, --ray-workers 1 or more")
        if not ray.is_initialized():
            where = cluster_address(cfg.ray)
            if where is not None:
                check_reachable(cfg.ray, where)
            ray.init(address=None if cfg.ray == "local" else cfg.ray, include_dashboard=False)
            self.owns_ray = True
        total = ray.cluster_resources()
        if total.get("CPU", 0) < cfg.ray_num_cpus or total.get("GPU", 0) < cfg.ray_num_gpus:
            self.close()
            raise RunError(f"a worker asks for {cfg.ray_num_cpus:g} CPUs and {cfg.ray_num_gpus:g} GPUs but the whole "
                           f"Ray cluster has {total.get('CPU', 0):g} CPUs and {total.get('GPU', 0):g} GPUs; lower "
                           "--ray-num-cpus / --ray-num-gpus or add nodes.")

    def start(self) -> None:
        """Nothing yet: workers start in run(), as many as there are contexts to run (at least one)."""

    def worker_count(self, contexts: int) -> int:
        """--ray-workers, else as many workers as the cluster's free CPUs and GPUs fit, at most one per context."""
        ray, cfg = import_ray(), self.run.cfg
        n = cfg.ray_workers
        if n is None:
            free = ray.available_resources()
            fits = [int(free.get(kind, 0) // need) for kind, need in (("CPU", cfg.ray_num_cpus),
                                                                       ("GPU", cfg.ray_num_gpus)) if need > 0]
            n = min(fits) if fits else 1
            if n < 1:
                raise RunError(f"the Ray cluster has {free.get('CPU', 0):g} CPUs and {free.get('GPU', 0):g} GPUs "
                               f"free; a worker asks for {cfg.ray_num_cpus:g} and {cfg.ray_num_gpus:g}. Wait for "
                               "other work to finish, or lower --ray-num-cpus / --ray-num-gpus.")
        return max(1, min(n, contexts))

    def run_contexts(self, todo: Sequence[tuple[str, Sequence]]) -> None:
        ray, run, cfg = import_ray(), self.run, self.run.cfg
        worker_cls = ray.remote(num_cpus=cfg.ray_num_cpus, num_gpus=cfg.ray_num_gpus,
                                max_concurrency=cfg.parallel + 1)(RayWorker)
        # Each worker gets the run's frozen plan (it pickles); each context's messages travel with the context.
        self.actors = [worker_cls.remote(run.plan.worker, cfg.parallel, cfg.llm_sharing)
                       for _ in range(self.worker_count(len(todo)))]
        self.workers = len(self.actors)
        started = time.perf_counter()
        self._wait_ready(ray)
        self.start_seconds = round(time.perf_counter() - started, 3)
        pending, in_flight = deque(todo), {}
        alive = set(range(len(self.actors)))
        failed: list[tuple[str, BaseException]] = []
        lost: list[tuple[str, str]] = []

        def submit(i: int) -> None:
            if pending and i in alive:
                cid, questions = pending.popleft()
                done = frozenset(q.id for q in questions if q.id in run.done)
                gen = self.actors[i].run_context.remote(cid, list(questions), run.data.contexts[cid], done)
                in_flight[gen] = (i, cid)

        for _ in range(cfg.parallel):
            for i in range(len(self.actors)):
                submit(i)
        while in_flight:
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
            for gen in ready:
                i, cid = in_flight[gen]
                try:
                    name, rows = ray.get(next(gen))
                except StopIteration:
                    del in_flight[gen]
                    submit(i)
                except ray.exceptions.RayActorError as exc:
                    del in_flight[gen]
                    alive.discard(i)
                    lost.append((cid, f"worker {i} died ({type(exc).__name__}: {_short(exc, 200)})"))
                except ray.exceptions.RayTaskError as exc:
                    del in_flight[gen]
                    failed.append((cid, exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc))
                    submit(i)  # a failed context is recorded at the end; the others still run
                else:
                    run.emit(name, rows)
        if pending:  # every worker died
            lost += [(cid, "not started: no worker left") for cid, _ in pending]
        raise_failures(failed, lost, len(todo), run)
        self._take_facts(ray, sorted(alive))

    def _wait_ready(self, ray) -> None:
        try:
            ray.get([a.ready.remote() for a in self.actors])
        except (ray.exceptions.RayTaskError, ray.exceptions.RayActorError) as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            raise RunError(f"the Ray workers could not start: {_short(lines[-1] if lines else exc)} (the worker's "
                           "traceback is in the Ray logs, /tmp/ray/session_latest/logs on its node)") from None

    def _take_facts(self, ray, alive: Sequence[int]) -> None:
        """What the record says about the model, system and embedder, as the live workers report it."""
        facts = ray.get([self.actors[i].facts.remote() for i in alive])
        embedders = [f["embedder"] for f in facts if f["embedder"] is not None]
        usage = [f.pop("usage", {}) for f in facts]  # each worker's own process (the record's resources)
        self.reported = {**facts[0], "embedder": embedders[0] if embedders else None, "worker_usage": usage}
        self.sharing = facts[0]["sharing"]

    def facts(self) -> dict[str, Any]:
        return self.reported

    def close(self) -> None:
        """Stop every worker (Ctrl-C included); leave a cluster this run joined, shut down one it started."""
        import ray

        for actor in self.actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - a worker that is already gone
                pass
        self.actors = []
        if self.owns_ray and ray.is_initialized():
            ray.shutdown()
            self.owns_ray = False

    def describe(self) -> dict[str, Any]:
        cfg = self.run.cfg
        return {"mode": self.mode, "parallel": cfg.parallel, "workers": self.workers,
                "worker_resources": {"num_cpus": cfg.ray_num_cpus, "num_gpus": cfg.ray_num_gpus},
                "llm_sharing": self.sharing, "worker_start_seconds": self.start_seconds}


class RayWorker:
    """A Ray worker's body: a WorkerPool over the model it loads once; one method call per context."""

    def __init__(self, plan, size: int, sharing: str) -> None:
        self.pool = WorkerPool(plan, size, sharing)  # no event hook: the progress display stays with the driver

    def ready(self) -> bool:
        """Returns once the model is loaded (the constructor ran)."""
        return True

    def run_context(self, cid: str, questions: list, context: list, done: frozenset):
        """Run one context; yields (file name, rows) as rows are made, so the driver writes them at once."""
        items: queue.Queue = queue.Queue()
        end = object()

        def target() -> None:
            try:
                self.pool.run_context(cid, context, questions, done, lambda name, rows: items.put((name, rows)))
                items.put(end)
            except BaseException as exc:  # noqa: BLE001 - re-raised below, in the Ray call
                items.put(_Failure(exc))

        threading.Thread(target=target, daemon=True).start()
        while True:
            item = items.get()
            if item is end:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item

    def facts(self) -> dict[str, Any]:
        """Model identity, system settings and embedder identity (None where not loaded), and this worker
        process's peak RSS and CPU seconds, for the record."""
        from comam_bench.resources import process_usage

        return {**self.pool.facts(), "usage": process_usage()}


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
