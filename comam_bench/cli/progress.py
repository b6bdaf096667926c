"""Progress displays for `run` and `train`: phases, counts per question or step, and an ETA.

On a terminal they draw one rich bar whose description names the phase; anywhere else (a log file, CI)
they print plain timestamped lines, at most one per `interval` seconds for routine updates and always one
for a phase change and the last item, so a log shows the run advancing instead of nothing until the end.
A heartbeat thread covers the long stretches between events (one model call can take minutes on a loaded
CPU): the bar's description is refreshed every few seconds with what is in flight and for how long, and
in plain-line mode a "still ..." line is printed whenever nothing else was for `quiet` seconds.
Third-party progress bars (transformers' GGUF conversion and weight loading, any tqdm) are switched off by
`quiet_third_party()`: ours already say that the model is loading.
"""
from __future__ import annotations

import os
import threading
import time
import warnings
from typing import Any, Callable

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from comam_bench.llm.activity import ACTIVITY

DEFAULT_INTERVAL = 10.0  # seconds between routine lines when the output is not a terminal
QUIET_LINES = 30.0  # plain lines: a heartbeat line after this long without any (the promise is 60 s)
BAR_BEAT = 5.0  # terminal: the bar's description is refreshed this often (the promise is 15 s)
REWARDS = ("reward/answer", "reward/extraction", "reward/profile", "reward/retrieval")


def quiet_third_party() -> None:
    """Silence other libraries' progress bars before they are imported (they read these at import/creation)."""
    os.environ.setdefault("TQDM_DISABLE", "1")  # tqdm >= 4.66 reads TQDM_* as argument defaults
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # huggingface_hub and transformers' own bars
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # Deprecation notices inside transformers are for its callers' developers, not for someone running a benchmark.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\.|$)")


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


class _Display:
    """One bar on a terminal, or throttled plain lines; subclasses turn events into `show` calls."""

    def __init__(self, console: Console, interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic, live: bool | None = None,
                 quiet: float = QUIET_LINES, beat: float = BAR_BEAT) -> None:
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.interval = DEFAULT_INTERVAL if interval is None else interval
        self.clock = clock
        self.t0 = clock()
        self.last_line = None
        self.bar = None
        self.handle = None
        self.quiet, self.beat_every = quiet, beat
        # What the heartbeat says is going on: the last shown text (line and bar forms), since when.
        self.doing, self.doing_bar = "starting", "starting"
        self.doing_since, self.doing_calls = self.t0, ACTIVITY.snapshot().calls
        self.lock = threading.RLock()  # the heartbeat thread and the run's thread both print
        self.stop = threading.Event()
        self.heart = None

    def __enter__(self):
        if self.live:
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                console=self.console, transient=False)
            self.bar.__enter__()
            self.handle = self.bar.add_task("starting", total=None)
        tick = self.beat_every if self.live else min(1.0, self.quiet / 4)
        self.heart = threading.Thread(target=self._heartbeat, args=(tick,), name="progress-heartbeat", daemon=True)
        self.heart.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.heart is not None:
            self.heart.join(timeout=5)
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def _heartbeat(self, tick: float) -> None:
        while not self.stop.wait(tick):
            try:
                self.beat()
            except Exception:  # a display problem (a closed pipe) must never stop the run
                pass

    def beat(self) -> None:
        """Say what is going on now: on the bar always, as a line only after `quiet` seconds of silence."""
        with self.lock:
            now = self.clock()
            if self.bar is not None:
                self.bar.update(self.handle, description=f"{self.doing_bar} · {self.busy(now)}")
            elif self.last_line is None or now - self.last_line >= self.quiet:
                self._line(now, f"working: {self.doing} · {self.busy(now)}")

    def busy(self, now: float) -> str:
        """How long the current step has run, the model call in flight and the calls made in this step."""
        parts = [f"{_clock(now - self.doing_since)} in this step"]
        act = ACTIVITY.snapshot()
        if act.in_flight:
            more = f" (+{act.in_flight - 1} more)" if act.in_flight > 1 else ""
            parts.append(f"{act.oldest}{more} for {_clock(time.monotonic() - act.oldest_since)}")
        calls = act.calls - self.doing_calls
        if calls:
            parts.append(f"{_count(calls, 'model call')} done")
        return ", ".join(parts)

    def _line(self, now: float, text: str) -> None:
        self.last_line = now
        self.console.print(f"[{_clock(now - self.t0)}] {text}", highlight=False, soft_wrap=True)

    def show(self, text: str, done: int | None = None, total: int | None = None, force: bool = True,
             bar_text: str | None = None) -> None:
        """Update the bar (its description `bar_text`, else `text`), or print `text` as a line; routine
        updates (force=False) print at most one line per interval. Either way it is what the heartbeat
        then says is going on."""
        with self.lock:
            now = self.clock()
            self.doing, self.doing_bar = text, bar_text or text
            self.doing_since, self.doing_calls = now, ACTIVITY.snapshot().calls
            if self.bar is not None:
                fields = {k: v for k, v in (("completed", done), ("total", total)) if v is not None}
                self.bar.update(self.handle, description=bar_text or text, **fields)
                return
            if not force and self.last_line is not None and now - self.last_line < self.interval:
                return
            self._line(now, text)

    def note(self, text: str) -> None:
        """A line that stays (above the bar on a terminal)."""
        with self.lock:
            self.last_line = self.clock()
            (self.bar.console if self.bar is not None else self.console).print(text, highlight=False)


class Rate:
    """Seconds per item and the time left, from the items finished since counting started (not resumed ones)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.t0, self.first = None, 0

    def start(self, done: int) -> None:
        self.t0, self.first = self.clock(), done

    def text(self, done: int, total: int) -> str:
        made = done - self.first
        if self.t0 is None or made <= 0:
            return ""
        per = (self.clock() - self.t0) / made
        return f" · {per:.1f} s each · ETA {_clock(per * (total - done))}"


class RunProgress(_Display):
    """The `events` hook of a Run: loading, memory building per context, answering, per-question counts."""

    def __init__(self, console: Console, title: str, **kwargs: Any) -> None:
        super().__init__(console, **kwargs)
        self.title = title
        self.rate = Rate(self.clock)
        self.context = ""
        self.done, self.total = 0, 0
        self.answering_seen = False

    def __call__(self, name: str, **f: Any) -> None:
        if name == "load":
            self.show(f"{self.title}: loading model {f['model']}" if f.get("model") else f"{self.title}: starting")
        elif name == "start":
            self.done, self.total = f["done"], f["total"]
            self.rate.start(f["done"])
            resumed = f" ({f['done']} already answered)" if f["done"] else ""
            self.show(f"{self.title}: {_count(f['total'], 'question')} on {_count(f['contexts'], 'context')}"
                      f"{resumed}", self.done, self.total)
        elif name == "context":
            self.context = f"context {f['index']}/{f['contexts']}"
        elif name == "ingest":
            self.show(f"{self.context}: building memory, messages {f['start']}–{f['end']} of {f['length']}",
                      self.done, self.total, force=f["start"] == 0)
        elif name == "answering":
            span = f"{f['first']}" if f["first"] == f["last"] else f"{f['first']}–{f['last']}"
            # The first batch always gets a line: on a slow machine it can take a while to come back.
            self.show(f"{self.context}: answering {span} of {f['total']}", self.done, self.total,
                      force=not self.answering_seen)
            self.answering_seen = True
        elif name == "answered":
            self.done, self.total = f["done"], f["total"]
            self.show(f"answered {self.done}/{self.total}{self.rate.text(self.done, self.total)}", self.done,
                      self.total, force=self.done == self.total, bar_text=f"{self.context}: answered")


class TrainProgress(_Display):
    """The `progress` hook of a trainer: steps with the rewards so far and an ETA, validations, the final run."""

    def __init__(self, console: Console, **kwargs: Any) -> None:
        super().__init__(console, **kwargs)
        self.rate = Rate(self.clock)
        self.sums: dict[str, float] = {}
        self.steps, self.total = 0, 0
        self.final_rate = Rate(self.clock)

    def __call__(self, event: str, **f: Any) -> None:
        if event == "start":
            self.note(f"[bold]{f['recipe']}[/bold]: {f['train']} training / {f['validation']} validation questions "
                      f"({f['exact_evidence']} of {f['examples']} with exact gold evidence; dropped {f['dropped']})")
            self.total = f["total"]
            self.rate.start(f["done"])
            self.show(f"training: step {f['done']}/{self.total}", f["done"], self.total, bar_text="training")
        elif event == "step":
            row, self.steps = f["row"], self.steps + 1
            for k in REWARDS:
                if k in row:
                    self.sums[k] = self.sums.get(k, 0.0) + row[k]
            means = "  ".join(f"{k.split('/')[1]} {v / self.steps:.2f}" for k, v in self.sums.items())
            self.show(f"training step {f['step']}/{self.total} · mean rewards so far: {means or '–'}"
                      f"{self.rate.text(f['step'], self.total)}", f["step"], self.total, force=f["step"] == self.total,
                      bar_text=f"training · mean rewards so far: {means or '–'}")
        elif event == "validation":
            row = f["row"]
            self.note(f"step {f['step']}: validation accuracy {row['val/accuracy']:.3f} over "
                      f"{int(row['val/questions'])} questions")
        elif event == "warm_start":
            self.note(f"warm start: {f['steps']} supervised steps on the retrieval agent's reply format")
        elif event == "phase" and len(f["agents"]) == 1:
            self.note(f"phase {f['phase'] + 1}: training the {f['agents'][0]} agent, the others frozen")
        elif event == "checkpoint":
            self.note(f"checkpoint: {f['path']}")
        elif event == "final":
            if self.final_rate.t0 is None:
                self.final_rate.start(f["done"])
            self.show(f"final evaluation: answered {f['done']}/{f['total']}{self.final_rate.text(f['done'], f['total'])}",
                      f["done"], f["total"], force=f["done"] in (0, f["total"]), bar_text="final evaluation")
