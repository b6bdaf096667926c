"""`comam-bench view` and the HTML leaderboard: one self-contained file that parses, holds every question
once, needs no network, survives markup in the data, and reads real run directories from the runner."""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from comam_bench.cli.main import cli
from comam_bench.runner import Run, RunConfig
from comam_bench.view import build_payload, render_report, write_report
from comam_bench.view.load import ViewError, protocol_of
from helpers_view import Texts, write_run

VOID = {"meta", "br", "img", "input", "link", "hr"}


class Page(HTMLParser):
    """Checks the tags nest and close, collects the embedded data and every URL the page would load."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.stack, self.urls, self.data, self._in_data = [], [], None, False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [v for k, v in attrs.items() if k in ("src", "href") and v]
        if tag == "script" and attrs.get("id") == "data":
            self._in_data = True
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()
        self._in_data = False

    def handle_data(self, data):
        if self._in_data:
            self.data = json.loads(data)


def test_report_parses_and_holds_each_question_once(tmp_path):
    d = write_run(tmp_path, 30)
    text = render_report(build_payload([d], texts=Texts(30)))
    page = Page(text)
    assert page.stack == [] and page.urls == []  # balanced, and nothing to fetch: no src/href at all
    ids = [json.loads(line)["question_id"] for line in (d / "samples.jsonl").read_text().splitlines()]
    assert [q["id"] for q in page.data["questions"]] == ids
    assert all(text.count(qid) == 1 for qid in ids)
    assert "http://" not in text and "https://" not in text
    run = page.data["runs"][0]
    assert run["protocol"]["name"] == "discriminative" and run["memory_kept"] and len(run["answers"]) == 30


def test_markup_in_answers_cannot_break_the_page(tmp_path):
    evil = "</script><script>alert(1)</script><!-- <b>"
    d = write_run(tmp_path, 3, raw_extra=evil)
    page = Page(render_report(build_payload([d], texts=Texts(3))))
    assert page.data["runs"][0]["answers"][0]["raw_output"].endswith(evil)


def test_missing_task_data_is_a_note_not_a_failure(tmp_path):
    d = write_run(tmp_path, 4)
    payload = build_payload([d])  # the fake task's data cannot be loaded
    assert payload["questions"][0]["text"] is None and payload["questions"][0]["gold"] == "a"
    assert any("not loaded" in n for n in payload["notes"])


def test_two_runs_line_up_on_their_questions(tmp_path):
    a, b = write_run(tmp_path, 12, "a"), write_run(tmp_path, 10, "b")
    payload = build_payload([a, b], texts=Texts(12))
    assert len(payload["questions"]) == 12
    assert payload["runs"][1]["answers"][11] is None and payload["runs"][1]["answers"][0]["extracted"] == "a"


def test_protocol_absent_means_discriminative_and_contract_b_is_read():
    from comam_bench.record import RunRecord

    assert protocol_of(None, {"protocol": "personamem-discriminative-v1"})["name"] == "discriminative"
    assert protocol_of(None, {"protocol": "personamem-likelihood-v1"})["name"] == "likelihood"  # a run still going
    old = RunRecord.from_dict({"format_version": 1, "spec": {"protocol": "personamem-discriminative-v1"}})
    assert protocol_of(old, {})["name"] == "discriminative"  # a format-1 record without the block
    block = {"name": "likelihood", "version": "v1", "headline_norm": "token"}
    record = RunRecord.from_dict({"protocol": block})
    assert protocol_of(record, {}) == {"name": "likelihood", "headline_norm": "token", "version": "v1"}


def test_not_a_run_directory_says_what_to_pass(tmp_path):
    with pytest.raises(ViewError, match="not a run directory"):
        build_payload([tmp_path])
    result = CliRunner().invoke(cli, ["view", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "run directory" in result.output


def test_view_command_on_a_real_run_shows_texts_and_kept_memory(tmp_path):
    cfg = RunConfig(task="personamem-mini", system="recency", model="scripted:constant=(b)", embedder="hash:64",
                    results_dir=tmp_path / "results", run_id="real", limit=9)
    Run(cfg).execute()
    run_dir = tmp_path / "results" / "runs" / "real"
    result = CliRunner().invoke(cli, ["view", str(run_dir)])
    assert result.exit_code == 0, result.output
    page = Page((run_dir / "report.html").read_text())
    q, a = page.data["questions"][0], page.data["runs"][0]["answers"][0]
    assert q["text"] and len(q["options"]) == 4 and a["extracted"] == "b"
    assert a["memory"]["source"] == "prompt" and a["memory"]["memory"]  # recency's memory: the recent turns


def test_incomplete_run_is_shown_with_scores_from_its_samples(tmp_path):
    d = write_run(tmp_path, 8)
    (d / "spec.json").write_text(json.dumps({"spec": json.loads((d / "run.json").read_text())["spec"],
                                             "spec_hash": "e" * 64}))
    (d / "run.json").unlink()
    run = build_payload([d], texts=Texts(8))["runs"][0]
    assert not run["complete"] and run["n"] == 8 and run["spec_hash"] == "e" * 64


def test_leaderboard_html_links_each_row_to_its_report(tmp_path):
    runs = tmp_path / "results" / "runs"
    write_run(runs, 6, "a")
    write_run(runs, 6, "b")
    result = CliRunner().invoke(cli, ["leaderboard", "--results-dir", str(tmp_path / "results"), "--html"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "results" / "leaderboard.html").read_text()
    page = Page(text)
    links = sorted(u for u in page.urls if not u.startswith("data:image/png;base64,"))
    assert links == ["runs/fake--a--n6/report.html", "runs/fake--b--n6/report.html"]
    # Every chart (overall; cost-accuracy and by type where drawn) is embedded, not linked.
    charts = 1 + sum((tmp_path / "results" / name).is_file()
                     for name in ("leaderboard_by_type.png", "leaderboard_cost.png"))
    assert len(page.urls) == 2 + charts and page.stack == []
    assert all((runs / name / "report.html").is_file() for name in ("fake--a--n6", "fake--b--n6"))


def test_write_report_creates_the_folder(tmp_path):
    d = write_run(tmp_path, 2)
    out = tmp_path / "deep" / "r.html"
    write_report([d], out, texts=None)
    assert Path(out).read_text().startswith("<!DOCTYPE html>")


def test_serve_hands_out_the_report_on_localhost(tmp_path):
    import threading
    import urllib.request

    from comam_bench.view.serve import make_server

    d = write_run(tmp_path, 2)
    out = tmp_path / "r.html"
    write_report([d], out, texts=Texts(2))
    server, url = make_server(out, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert url.startswith("http://127.0.0.1:")
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # localhost, whatever proxy is set
        with direct.open(url, timeout=10) as response:
            assert response.read() == out.read_bytes()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_serve_on_a_taken_port_is_a_clear_error(tmp_path):
    import socket

    d = write_run(tmp_path, 1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["view", str(d), "--serve", "--port", str(port)])
    assert result.exit_code == 2 and "--port 0" in result.output and (d / "report.html").is_file()
