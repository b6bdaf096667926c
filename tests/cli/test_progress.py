"""Progress displays: line-based off a terminal, advancing per answered question, throttled, with ETA."""
import io
import os
import re

from rich.console import Console

from comam_bench.cli.progress import RunProgress, TrainProgress, quiet_third_party
from comam_bench.runner import Run, RunConfig


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _console(terminal=False):
    return Console(file=io.StringIO(), force_terminal=terminal, width=200, color_system=None)


def test_plain_lines_advance_per_question_in_a_real_run(tmp_path):
    console = _console()
    display = RunProgress(console, "longest-option on personamem-mini", interval=0)
    assert not display.live  # a StringIO is not a terminal
    cfg = RunConfig(task="personamem-mini", system="longest-option", limit=5, batch_size=1, results_dir=tmp_path)
    with display:
        Run(cfg, events=display).execute()
    lines = console.file.getvalue().splitlines()
    assert all(re.match(r"\[\d+:\d\d:\d\d\] ", line) for line in lines), lines
    answered = [int(m.group(1)) for line in lines if (m := re.search(r"answered (\d+)/5", line))]
    assert answered == [1, 2, 3, 4, 5]
    assert "5 questions on 1 context" in lines[1]
    assert any("context 1/1: building memory, messages 0–" in line for line in lines)
    assert "ETA" in lines[-1]


def test_batches_are_named_while_they_run():
    console = _console()
    display = RunProgress(console, "x", interval=0)
    display("start", done=0, total=6, contexts=2)
    display("context", index=2, contexts=2, context_id="c", questions=3)
    display("answering", first=4, last=6, total=6)
    assert "context 2/2: answering 4–6 of 6" in console.file.getvalue()


def test_routine_lines_are_throttled_but_the_last_is_not():
    clock, console = Clock(), _console()
    display = RunProgress(console, "x", interval=10, clock=clock)
    display("start", done=0, total=4, contexts=1)
    for done in (1, 2, 3):
        clock.t += 2
        display("answered", done=done, total=4)
    clock.t += 10
    display("answered", done=4, total=4)
    text = console.file.getvalue()
    assert "answered 1/4" not in text and "answered 3/4" not in text  # within 10 s of the previous line
    assert "answered 4/4 · 4.0 s each · ETA 0:00:00" in text  # 16 s over 4 questions


def test_resumed_questions_do_not_count_toward_the_rate():
    clock, console = Clock(), _console()
    display = RunProgress(console, "x", interval=0, clock=clock)
    display("start", done=10, total=20, contexts=3)
    clock.t = 5
    display("answered", done=15, total=20)
    text = console.file.getvalue()
    assert "(10 already answered)" in text and "answered 15/20 · 1.0 s each · ETA 0:00:05" in text


def test_terminal_draws_a_bar_instead_of_lines():
    console = _console(terminal=True)
    display = RunProgress(console, "x")
    assert display.live
    with display:
        display("load", model="smollm2")
        display("start", done=0, total=2, contexts=1)
        display("answered", done=2, total=2)
    assert display.bar.tasks[0].completed == 2 and display.bar.tasks[0].total == 2
    assert not re.search(r"^\[\d+:\d\d:\d\d\]", console.file.getvalue(), flags=re.M)


def test_train_progress_lines():
    clock, console = Clock(), _console()
    display = TrainProgress(console, interval=0, clock=clock)
    display("start", total=3, done=0, recipe="smoke", train=6, validation=2, exact_evidence=5, examples=8, dropped=0)
    for step, answer in ((1, 0.0), (2, 1.0)):
        clock.t += 3
        display("step", step=step, row={"reward/answer": answer, "reward/profile": 0.5})
    display("final", done=0, total=4)
    text = console.file.getvalue()
    assert "training step 2/3 · mean rewards so far: answer 0.50  profile 0.50 · 3.0 s each · ETA 0:00:03" in text
    assert "final evaluation: answered 0/4" in text


def test_quiet_third_party_keeps_a_users_choice(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "0")
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    quiet_third_party()
    assert os.environ["TQDM_DISABLE"] == "0" and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"


def test_the_first_batch_is_announced_even_within_the_interval():
    clock, console = Clock(), _console()
    display = RunProgress(console, "x", interval=10, clock=clock)
    display("start", done=0, total=4, contexts=1)
    display("context", index=1, contexts=1, context_id="c", questions=4)
    display("answering", first=1, last=2, total=4)
    display("answered", done=2, total=4)
    display("answering", first=3, last=4, total=4)
    text = console.file.getvalue()
    assert "answering 1–2 of 4" in text and "answering 3–4 of 4" not in text
