"""A leaderboard row's interval over the unit that varies: history × topic clusters resampled (hand-worked
cases of the bootstrap and the t interval, then the rows built from records)."""
import json

import pytest

from comam_bench.leaderboard import build_board, collect_runs
from comam_bench.leaderboard_runs import MIN_CLUSTERS, row_clusters
from comam_bench.scores import bootstrap_clusters, t_interval

from test_leaderboard import make_run


def test_two_opposite_clusters_span_everything():
    # Each draw takes 2 clusters: both wrong (p 1/4) -> 0, one each (1/2) -> .5, both right (1/4) -> 1. The
    # 2.5th and 97.5th percentiles fall in the outer quarters: 0 and 1. Wilson over the 20 questions would
    # say .299-.701, as if the 20 were independent.
    assert bootstrap_clusters([(10, 0), (10, 10)]) == (0.0, 1.0)


def test_identical_clusters_leave_no_spread():
    assert bootstrap_clusters([(4, 1)] * 12) == (0.25, 0.25)


def test_bootstrap_is_seeded_and_order_matters_only_through_the_seed():
    counts = [(7, k) for k in (0, 2, 3, 4, 5, 7, 1, 6, 3, 2)]
    assert bootstrap_clusters(counts) == bootstrap_clusters(list(counts))
    assert bootstrap_clusters([]) == (0.0, 1.0)


def test_t_interval_hand_worked():
    # mean .3, sd .1, se .1 / √3 = .05774; t(2) = 4.3027: half-width .24842
    lo, hi = t_interval([0.2, 0.3, 0.4])
    assert (round(lo, 5), round(hi, 5)) == (0.05158, 0.54842)
    assert t_interval([0.5]) is None
    # df 11 is between the table's 10 and 12: the larger quantile (df 10's 2.2281), never a narrower interval
    xs = [0.0, 1.0] * 6
    sd = (sum((x - 0.5) ** 2 for x in xs) / 11) ** 0.5
    lo, hi = t_interval(xs)
    assert hi - 0.5 == pytest.approx(2.2281 * sd / 12 ** 0.5)


def _topic_samples(correct_per_topic: list[int], per_topic: int = 3) -> list[dict]:
    """One context, topic i with per_topic questions of which correct_per_topic[i] are right."""
    out = []
    for t, k in enumerate(correct_per_topic):
        out += [{"question_id": f"q{t}-{j}", "context_id": "c0", "type": "recall_user_shared_facts",
                 "topic": f"t{t}", "correct": j < k, "extracted": "a"} for j in range(per_topic)]
    return out


def _write(root, run_id, samples, *, with_clusters=True):
    from comam_bench.scores import aggregate

    make_run(root, run_id, "rag", "hf:qwen-7b", 0, n=len(samples))
    record = json.loads((root / run_id / "run.json").read_text())
    record["scores"] = aggregate(samples)
    if not with_clusters:  # as a record written before scores.by_context_topic existed
        del record["scores"]["by_context_topic"]
    (root / run_id / "run.json").write_text(json.dumps(record))
    (root / run_id / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))


@pytest.mark.parametrize("with_clusters", [True, False])
def test_a_row_with_enough_topics_resamples_them(tmp_path, with_clusters):
    root = tmp_path / "runs"
    correct = [0, 3, 1, 2, 3, 0, 1, 2, 3, 0, 2]  # 11 topics >= MIN_CLUSTERS
    _write(root, "r", _topic_samples(correct), with_clusters=with_clusters)
    (row,) = build_board(collect_runs(root))["groups"][0]["rows"]
    assert (row["ci95_over"], row["clusters"], row["ci95_over_seeds"]) == ("topics", 11, None)
    # the older record got its clusters from its own samples.jsonl, in memory
    expected = bootstrap_clusters(nk for _, nk in sorted((f"c0|t{t}", (3, k)) for t, k in enumerate(correct)))
    assert row["ci95"] == [round(x, 4) for x in expected]


def test_too_few_topics_fall_back_to_wilson_and_say_so(tmp_path):
    from comam_bench.leaderboard import render_markdown

    root = tmp_path / "runs"
    _write(root, "r", _topic_samples([1, 2, 3] * 3, per_topic=4))  # 9 topics
    board = build_board(collect_runs(root))
    (row,) = board["groups"][0]["rows"]
    assert (row["ci95_over"], row["clusters"]) == ("questions", 9) and MIN_CLUSTERS == 10
    assert "§ Interval over questions" in render_markdown(board)


def test_samples_that_do_not_match_the_record_give_no_clusters(tmp_path):
    root = tmp_path / "runs"
    _write(root, "r", _topic_samples([1] * 12), with_clusters=False)
    with open(root / "r" / "samples.jsonl", "a") as f:  # one line more than the record scored
        f.write(json.dumps(_topic_samples([1])[0]) + "\n")
    (row,) = build_board(collect_runs(root))["groups"][0]["rows"]
    assert (row["ci95_over"], row["clusters"]) == ("questions", 0)


def test_seeds_on_their_own_data_keep_their_clusters_apart_shared_data_pools_them():
    own = [{"seed": s, "data_per_seed": True, "clusters": {"c|t": (5, s)}} for s in (0, 1)]
    assert row_clusters(own) == {"0/c|t": (5, 0), "1/c|t": (5, 1)}
    shared = [{"seed": s, "data_per_seed": False, "clusters": {"c|t": (5, s)}} for s in (0, 1)]
    assert row_clusters(shared) == {"c|t": (10, 1)}
    assert row_clusters([{"seed": 0, "data_per_seed": False, "clusters": {}}]) == {}
