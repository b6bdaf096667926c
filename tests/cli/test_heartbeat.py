"""The progress heartbeat: no silent stretch while a slow model call is in flight.

A captured run (plain lines, as in a log or CI) against a scripted model that takes seconds per call must
print a line at least every `quiet` seconds, each saying what is in flight; on a terminal the bar's
description names the call in flight. The defaults promise 60 s (lines) and 15 s (bar); the test shrinks
both so it runs in seconds, and checks the gaps with a clock of its own.
"""
import io
import re
import time

from rich.console import Console

from comam_bench.cli import progress
from comam_bench.cli.progress import RunProgress
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.runner import Run, RunConfig

DELAY = 2.0  # seconds per model call: longer than the quiet time, so without a heartbeat a gap shows
QUIET = 0.3
SLACK = 1.0  # scheduling on a loaded shared machine


class SlowLLM(ScriptedLLM):
    def generate(self, chats, **kwargs):
        time.sleep(DELAY)
        return super().generate(chats, **kwargs)


class TimedLines(io.TextIOBase):
    """A captured stream that notes when each line arrived."""

    def __init__(self):
        self.lines, self.partial = [], ""

    def write(self, text):
        self.partial += text
        *done, self.partial = self.partial.split("\n")
        self.lines += [(time.monotonic(), line) for line in done]
        return len(text)

    def isatty(self):
        return False


def test_the_defaults_promise_a_line_a_minute_and_a_bar_every_15_seconds():
    assert progress.QUIET_LINES <= 60 and progress.BAR_BEAT <= 15


def test_plain_lines_never_go_quiet_during_slow_model_calls(tmp_path):
    stream = TimedLines()
    console = Console(file=stream, width=200, color_system=None)
    display = RunProgress(console, "no-memory on personamem-mini", quiet=QUIET)
    cfg = RunConfig(task="personamem-mini", system="no-memory", model="scripted:slow", limit=3, batch_size=1,
                    results_dir=tmp_path)
    start = time.monotonic()
    with display:
        Run(cfg, llm=SlowLLM(), events=display).execute()
    end = time.monotonic()
    times = [start] + [t for t, _ in stream.lines] + [end]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert end - start >= 3 * DELAY
    assert max(gaps) <= QUIET + SLACK, (max(gaps), stream.lines)
    beats = [line for _, line in stream.lines if "working: " in line]
    assert len(beats) >= 3
    # Each says what is being done and what is in flight, for how long, on the run's own clock.
    assert any(re.match(r"\[\d:\d\d:\d\d\] working: context 1/1: answering \d of 3 · 0:00:0\d in this step, "
                        r"generating 1 reply \(answer\) for 0:00:0\d", line) for line in beats), beats


def test_the_bar_names_the_call_in_flight():
    console = Console(file=io.StringIO(), force_terminal=True, width=200, color_system=None)
    display = RunProgress(console, "x", beat=0.05)
    seen = []

    class Watched(SlowLLM):
        def generate(self, chats, **kwargs):
            out = super().generate(chats, **kwargs)  # sleeps DELAY: many beats happen meanwhile
            seen.append(display.bar.tasks[0].description)  # still in flight
            return out

    from comam_bench.llm.meter import Meter

    with display:
        display("start", done=0, total=2, contexts=1)
        display("context", index=1, contexts=1, context_id="c", questions=2)
        display("answering", first=1, last=2, total=2)
        Meter().wrap(Watched()).generate([[{"role": "user", "content": "hi"}]] * 2)
    assert re.fullmatch(r"context 1/1: answering 1–2 of 2 · 0:00:0\d in this step, generating 2 replies for 0:00:0\d",
                        seen[0]), seen


def test_memory_building_is_named_while_it_runs():
    clock = [0.0]
    console = Console(file=io.StringIO(), width=200, color_system=None)
    display = RunProgress(console, "x", quiet=30, clock=lambda: clock[0])
    display("start", done=0, total=2, contexts=3)
    display("context", index=2, contexts=3, context_id="c", questions=2)
    display("ingest", start=0, end=698, length=698)
    clock[0] = 29
    display.beat()
    clock[0] = 31
    display.beat()
    text = console.file.getvalue()
    assert text.count("working: ") == 1
    assert "working: context 2/3: building memory, messages 0–698 of 698 · 0:00:31 in this step" in text
