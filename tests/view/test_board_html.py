"""leaderboard.html: headings that say what each chart shows, likelihood norms named, a page that fits."""
import json

from comam_bench.leaderboard import NORM_NOTE, build_board, render_markdown, render_terminal
from comam_bench.view.board import CHART_HEADINGS, render_board


def _run(run_id, protocol=None, by_norm=None, accuracy=0.5):
    rec = {"run_id": run_id, "task": {"name": "personamem-mini"}, "system": {"name": "rag"},
           "model": {"spec": "smollm2"}, "spec": {"task": {"name": "personamem-mini"}, "system": {"name": "rag"}},
           "spec_hash": run_id, "seed": 0, "created": "2026-01-01", "status": "complete",
           "scores": {"n": 28, "accuracy": accuracy, "ci95": [0.3, 0.7], "chance": 0.25, "by_type": {}}}
    if protocol:
        rec["protocol"] = {"name": protocol, "headline_norm": "token"}
        rec["scores_by_norm"] = {k: {"accuracy": v} for k, v in by_norm.items()}
    return rec


def test_chart_headings_say_what_each_chart_shows():
    board = build_board([_run("a")])
    page = render_board(board, b"png-bytes", lambda rid: None, by_type=b"heatmap-bytes")
    assert f"<h2>{CHART_HEADINGS['png']}</h2>" in page and "Overall accuracy per system" in page
    assert page.index("Overall accuracy per system") < page.index("Accuracy by question type")
    only_overall = render_board(board, b"png-bytes", lambda rid: None)
    assert "by question type" not in only_overall
    assert '<div class="wide"><table class="board">' in page


def test_likelihood_tables_name_the_three_norms_alike_everywhere():
    runs = [_run("ll", "likelihood", {"token": 0.393, "char": 0.429, "sum": 0.321}, accuracy=0.393), _run("gen")]
    board = build_board(runs)
    ll = next(g for g in board["groups"] if g["protocol"] == "likelihood")
    assert ll["rows"][0]["accuracy_by_norm"] == {"token": 0.393, "char": 0.429, "sum": 0.321}
    md = render_markdown(board)
    assert "| # | system | n | accuracy (token) | 95% CI | char | sum |" in md
    assert "| 0.393 | 0.300–0.700 § | 0.429 | 0.321 |" in md
    assert "| # | system | n | accuracy | 95% CI | calls/q" in md  # discriminative tables unchanged
    assert NORM_NOTE in md and "`acc_token`" in NORM_NOTE and "`acc_norm`" in NORM_NOTE
    page = render_board(board, None, lambda rid: None)
    assert "accuracy (token)" in page and "acc_token" in page
    headers = [[c.header for c in t.columns] for t in render_terminal(board)]
    assert ["#", "system", "n", "accuracy (token)", "95% CI", "char", "sum"] == headers[1][:7]
    json.dumps(board)
