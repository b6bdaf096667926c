"""CAM: edge scores, disentanglement, label propagation, levels, incremental building, summaries and
prune-and-grow, on hand-made graphs, hand-made vectors and a scripted LLM."""
import math

import numpy as np
import pytest

from comam_bench import registry
from comam_bench.api import Message, Question, Resources
from comam_bench.llm.hashing import HashEmbedder
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.systems.cam import graph as g
from comam_bench.systems.cam import CAM, parse_selection


def graph(edges, nodes=()):
    adj = {v: set() for v in nodes}
    for u, v in edges:
        g.link(adj, u, v)
    return adj


TRIANGLES = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)]
BRIDGED = graph(TRIANGLES + [(6, v) for v in range(6)])  # node 6 touches every node of both triangles


def partition(clusters):
    return sorted(sorted(m) for m in clusters.values())


# --------------------------------------------------------------------------- edges
def test_edge_scores_by_hand():
    s = g.edge_scores([0.5, 0.9, -0.4], 3, alpha=0.6, sigma=1.0)
    expected = [0.6 * 0.5 + 0.4 * math.exp(-9 / 2), 0.6 * 0.9 + 0.4 * math.exp(-4 / 2), 0.4 * math.exp(-1 / 2)]
    assert s == pytest.approx(expected)  # the negative cosine counts as 0
    wide = g.edge_scores([0.0], 3, alpha=0.0, sigma=2.0)
    assert wide[0] == pytest.approx(math.exp(-9 / 8))


def test_pick_earlier_threshold_top_k_and_only_earlier_chunks():
    v = np.eye(3, dtype=np.float32)[[0, 0, 1, 0, 0]]  # chunks 0, 1, 3, 4 share a topic; 2 is another
    picks = g.pick_earlier(v, 3, alpha=0.6, sigma=1.0, threshold=0.6, k=10)
    assert picks == [1, 0]  # 1 is nearer; 2 (cos 0: 0.4*exp(-1/2) < 0.6) is out; 4 is later
    assert g.pick_earlier(v, 3, alpha=0.6, sigma=1.0, threshold=0.6, k=1) == [1]
    assert g.pick_earlier(v, 0, alpha=0.6, sigma=1.0, threshold=0.0, k=5) == []
    # proximity alone links adjacent chunks when the threshold is low enough
    assert g.pick_earlier(v, 2, alpha=0.6, sigma=1.0, threshold=0.2, k=5) == [1]


# --------------------------------------------------------------------------- disentanglement
def test_bridge_node_gets_one_replica_per_triangle():
    assert g.replicas_of(6, g.ego_components(BRIDGED, 6)) == [(6, 0), (6, 3)]
    # node 0's neighbours 1, 2, 6 are all connected: one replica
    assert g.replicas_of(0, g.ego_components(BRIDGED, 0)) == [(0, 1)]
    rep = g.disentangle(BRIDGED)
    assert len(rep) == 8
    assert rep[(6, 0)] == {(0, 1), (1, 0), (2, 0)}
    assert rep[(6, 3)] == {(3, 4), (4, 3), (5, 3)}
    assert rep[(0, 1)] == {(1, 0), (2, 0), (6, 0)}


def test_path_middle_splits_and_isolated_node_has_one_replica():
    adj = graph([(0, 1), (1, 2)], nodes=[3])
    rep = g.disentangle(adj)
    assert sorted(rep) == [(0, 1), (1, 0), (1, 2), (2, 1), (3, g.ISOLATED)]
    assert rep[(1, 0)] == {(0, 1)} and rep[(1, 2)] == {(2, 1)} and rep[(3, -1)] == set()


def test_affected_nodes_include_common_neighbours_of_a_new_edge():
    old = graph([(0, 1), (0, 2), (3, 4)])
    new = graph([(0, 1), (0, 2), (1, 2), (3, 4)], nodes=[5])
    assert g.affected_nodes(old, new) == {0, 1, 2, 5}  # 0 sees the edge 1-2 inside its ego network
    lc = g.LevelClustering()
    lc.update(old)
    assert (0, 1) in lc.rep_adj and (0, 2) in lc.rep_adj  # 0 bridges 1 and 2...
    lc.update(new)
    assert lc.rep_adj == g.disentangle(new) and (0, 2) not in lc.rep_adj  # ...until 1-2 joins them


# --------------------------------------------------------------------------- label propagation
def test_majority_label_tie_breaking():
    labels = {"a": 3, "b": 5, "c": 5, "d": 3}
    assert g.majority_label(labels, ["a", "b"], 9) == 3  # tie, current not in it: smallest
    assert g.majority_label(labels, ["a", "b"], 5) == 5  # tie including current: keep it
    assert g.majority_label(labels, ["a", "b", "c"], 3) == 5  # strict majority wins
    assert g.majority_label(labels, [], 7) == 7


def test_propagate_on_tiny_replica_graph():
    rep = {"x": {"y"}, "y": {"x", "z"}, "z": {"y"}, "w": set()}
    labels = {"w": 0, "x": 1, "y": 2, "z": 3}
    out = g.propagate(rep, labels, active=rep)
    # sorted sweep: w keeps 0 (no neighbours); x takes y's 2; y sees {2, 3}, keeps 2; z takes 2
    assert out == {"w": 0, "x": 2, "y": 2, "z": 2}
    assert labels["x"] == 1  # the input is not modified
    assert g.propagate(rep, labels, active=["w"]) == labels  # inactive replicas do not move


def test_bridged_triangles_give_overlapping_clusters():
    clusters = g.LevelClustering().update(BRIDGED)
    assert partition(clusters) == [[0, 1, 2, 6], [3, 4, 5, 6]]


def test_split_large_cuts_runs_of_sorted_members():
    out = g.split_large({7: frozenset({5, 1, 3, 9, 2})}, 2)
    assert out == {(7, 0): {1, 2}, (7, 1): {3, 5}, (7, 2): {9}}
    assert g.split_large({7: frozenset({1, 2})}, None) == {(7, 0): {1, 2}}


# --------------------------------------------------------------------------- incremental vs batch
def grown(edges, order):
    """Feed a graph node by node (with its edges to earlier nodes) to one LevelClustering."""
    lc, adj, active = g.LevelClustering(), {}, []
    for v in order:
        adj.setdefault(v, set())
        for a, b in edges:
            if v in (a, b) and (b if a == v else a) in adj:
                g.link(adj, a, b)
        clusters = lc.update(adj)
        active.append(lc.last_active)
    return clusters, active, lc


@pytest.mark.parametrize("edges,n", [(TRIANGLES + [(6, v) for v in range(6)], 7),
                                     ([(0, 1), (1, 2), (0, 2), (2, 3), (3, 4), (4, 5), (3, 5), (5, 6)], 7)])
def test_incremental_equals_batch_on_small_graphs(edges, n):
    batch = g.LevelClustering().update(graph(edges))
    clusters, _, lc = grown(edges, range(n))
    assert partition(clusters) == partition(batch)
    assert lc.rep_adj == g.disentangle(graph(edges))  # the replica graph is exactly the batch one


def test_update_only_activates_changed_replicas():
    edges = TRIANGLES + [(6, 7)]
    _, active, lc = grown(edges, range(8))
    assert active[-1] == 2  # node 7 and 6's replica (6 was isolated): the triangles stay untouched
    assert len(lc.rep_adj) == 8


def test_super_adjacency_links_overlapping_and_adjacent_clusters():
    adj = graph([(0, 1), (1, 2), (3, 4)])
    parents = {10: frozenset({0, 1}), 11: frozenset({1, 2}), 12: frozenset({3}), 13: frozenset({4}),
               14: frozenset({5})}
    up = g.super_adjacency(parents, adj)
    assert up == {10: {11}, 11: {10}, 12: {13}, 13: {12}, 14: set()}


def test_hierarchy_levels_and_stopping():
    h = g.Hierarchy()
    h.update(BRIDGED)
    sizes = [len(level.adj) for level in h.levels]
    assert sizes == [7, 2, 1]  # two overlapping clusters, linked by their overlap; then one root
    assert sorted(sorted(c) for c in h.levels[1].children.values()) == [[0, 1, 2, 6], [3, 4, 5, 6]]
    assert h.levels[2].children == {0: frozenset({0, 1})}
    flat = g.Hierarchy(max_level=0)
    flat.update(BRIDGED)
    assert len(flat.levels) == 1
    lonely = g.Hierarchy()
    lonely.update(graph([], nodes=[0, 1, 2]))  # no edges: clustering does not reduce, no level above
    assert len(lonely.levels) == 1


def test_grow_candidates_neighbours_and_children():
    h = g.Hierarchy()
    h.update(BRIDGED)
    assert g.grow_candidates([(0, 0)], h.levels) == {(0, 1), (0, 2), (0, 6)}
    kids = g.grow_candidates([(1, 0)], h.levels)
    assert {(0, c) for c in h.levels[1].children[0]} <= kids and (1, 1) in kids


# --------------------------------------------------------------------------- the system
class TopicEmbedder:
    """One axis per topic word (multi-hot, normalised): chunks of one topic have cosine 1, of two topics 0."""

    TOPICS = ("cats", "jazz", "told")

    def embed(self, texts):
        out = np.zeros((len(texts), len(self.TOPICS) + 1), dtype=np.float32)
        for i, text in enumerate(texts):
            hits = [j for j, w in enumerate(self.TOPICS) if w in text.lower()] or [len(self.TOPICS)]
            out[i, hits] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def msg(topic, n):
    return Message("user", f"User: my {topic} story number {n} is here")  # 8 words: one chunk each


CATS3, JAZZ3 = [msg("cats", i) for i in range(3)], [msg("jazz", i) for i in range(3)]


class Script:
    """Scripted LLM replies by prompt kind; selections come from a queue."""

    def __init__(self, selections=(), summary=None):
        self.selections = list(selections)
        self.summary = summary

    def __call__(self, chat):
        text = chat[-1]["content"]
        if text.startswith("Summarise"):
            if self.summary is not None:
                return self.summary
            topic = "cats" if "cats" in text else "jazz"
            return f"The user told {text.count('Passage ')} {topic} stories."
        if "numbers of all helpful passages" in text:
            return self.selections.pop(0) if self.selections else "[]"
        return "<final_answer>(a)"


def make(script=None, **args):
    llm = ScriptedLLM(script or Script())
    emb = TopicEmbedder()
    system = CAM(Resources(llm, lambda: emb), **{"chunk_tokens": 12, **args})
    system.reset("c")
    return system, llm


def calls(llm, agent):
    return [chat for chat, kw in llm.calls if kw.get("agent") == agent]


def question(text="Tell me about my cats", qid="q1"):
    options = ("(a) yes", "(b) no", "(c) maybe", "(d) never")
    return Question(id=qid, type="recall_user_shared_facts", raw_type="r", topic="t", text=text, options=options,
                    options_raw="\n".join(options), gold="a", context_id="c", end_index=0)


def test_chunks_stay_in_their_session_and_the_open_chunk_waits():
    system, _ = make(chunk_tokens=64)
    context = [Message("system", "Current user persona: Kim"), msg("cats", 0), msg("cats", 1),
               Message("system", "Current user persona: Kim"), msg("jazz", 0)]
    system.ingest(context, 0)
    assert [(c.start, c.end, c.session) for c in system.chunks] == [(0, 3, 1), (3, 5, 2)]
    assert list(system.base) == [0]  # the second chunk may still grow
    assert [n.key for n in system._pool()] == [(0, 0), (0, 1)]  # ... but it can be retrieved


def test_summaries_only_for_changed_clusters():
    system, llm = make()
    system.ingest(CATS3 + JAZZ3[:1], 0)  # chunks 0-2 (cats) close; the jazz chunk is open
    assert len(calls(llm, "cam_summarize")) == 1
    system.ingest(JAZZ3[1:], 4)  # jazz 0-1 close: a new cluster; the cats cluster is unchanged
    assert len(calls(llm, "cam_summarize")) == 2
    assert "jazz" in calls(llm, "cam_summarize")[1][0]["content"]
    system.ingest([msg("cats", 9)], 6)  # jazz 2 closes and joins the jazz cluster only
    summaries = calls(llm, "cam_summarize")
    assert len(summaries) == 3 and "cats" not in summaries[2][0]["content"]
    assert summaries[2][0]["content"].count("Passage ") == 3
    level1 = sorted(n.text for n in system.nodes.values() if n.level == 1)
    assert level1 == ["The user told 3 cats stories.", "The user told 3 jazz stories."]


def test_incremental_ingest_equals_one_shot():
    context = CATS3 + JAZZ3 + [msg("cats", 7), msg("jazz", 8), msg("cats", 9)]
    one, llm_one = make()
    one.ingest(context, 0)
    step, llm_step = make()
    for i in range(len(context)):
        step.ingest(context[i:i + 1], i)
    assert one.base == step.base
    def shape(system):
        return sorted((n.level, n.start, n.end, n.text) for n in system.nodes.values())
    assert shape(one) == shape(step)
    assert ("1", "The user told 4 cats stories.") in {(str(n.level), n.text) for n in one.nodes.values()}
    # each cluster is summarised once per distinct member set it went through
    assert len(calls(llm_one, "cam_summarize")) < len(calls(llm_step, "cam_summarize"))


def test_empty_summary_falls_back_to_children_text():
    system, _ = make(Script(summary="   "))
    system.ingest(CATS3 + JAZZ3[:1], 0)
    (summary,) = [n for n in system.nodes.values() if n.level == 1]
    assert summary.text.startswith("User: my cats story number 0")
    assert system.resources.diagnostics["cam_empty_summary"] == 1


def test_summary_lead_in_is_stripped_but_not_a_summary_of():
    system, _ = make(Script(summary="**Summary:** The user keeps cats."))
    system.ingest(CATS3 + JAZZ3[:1], 0)
    assert [n.text for n in system.nodes.values() if n.level == 1] == ["The user keeps cats."]
    other, _ = make(Script(summary="Summary of cats: three stories."))
    other.ingest(CATS3 + JAZZ3[:1], 0)
    assert [n.text for n in other.nodes.values() if n.level == 1] == ["Summary of cats: three stories."]


def test_prune_and_grow_follows_scripted_selections():
    script = Script(selections=["[2]", "[1]", "[]"])
    system, llm = make(script, top_s=2)
    system.ingest(CATS3 + JAZZ3, 0)
    (answer,) = system.answer([question()])
    prompts = [c[0]["content"] for c in calls(llm, "cam_select")]
    # round 1: the two best cat chunks (equal cosines: pool order); the LLM keeps [2] = chunk 1
    assert "[1] [session 0] User: my cats story number 0" in prompts[0]
    assert "[2] [session 0] User: my cats story number 1" in prompts[0]
    # round 2: chunk 1's unseen neighbour (chunk 2) only; kept. Round 3: chunk 2's neighbours were all shown
    assert "[1] [session 0] User: my cats story number 2" in prompts[1] and "[2]" not in prompts[1]
    assert len(prompts) == 2 and answer.info["cam_rounds"] == 2
    memory = answer.prompt[0]["content"]
    assert "story number 1" in memory and "story number 2" in memory and "story number 0" not in memory
    assert "jazz" not in memory and answer.info["retrieved"] == [[1, 2], [2, 3]]


def test_grow_through_children_of_a_kept_summary():
    system, llm = make(Script(selections=["[1]", "[1, 2]"]), top_s=2)
    system.ingest(CATS3 + JAZZ3[:1], 0)  # cats chunks 0-2, their summary, the open jazz chunk
    (answer,) = system.answer([question("which cats stories have I told")])
    first, second = [c[0]["content"] for c in calls(llm, "cam_select")]
    assert "[1] [summary of session 0] The user told 3 cats stories." in first  # cosine 1 beats 0.71
    assert "[2] [session 0] User: my cats story number 0" in first
    # the kept summary grows into its children that were not shown yet
    assert "story number 1" in second and "story number 2" in second and "story number 0" not in second
    assert answer.info["cam_kept"] == [[1, 0, 3], [0, 1, 2], [0, 2, 3]]  # summaries first, then chunks
    assert answer.info["cam_rounds"] == 2  # nothing left to grow into


def test_bad_and_unreadable_selections_are_counted_and_fall_back():
    system, _ = make(Script(selections=["[9, 1]", "none of them"]), top_s=2)
    system.ingest(CATS3 + JAZZ3, 0)
    (answer,) = system.answer([question()])
    assert system.resources.diagnostics["cam_select_bad_id"] == 1
    assert system.resources.diagnostics["cam_select_unparsed"] == 1
    assert answer.info["retrieved"] == [[0, 1]]  # id 1 was kept, id 9 ignored
    other, _ = make(Script(selections=["no idea"]), top_s=2)
    other.ingest(CATS3 + JAZZ3, 0)
    (answer,) = other.answer([question()])
    assert other.resources.diagnostics["cam_select_fallback"] == 1
    assert answer.info["retrieved"] == [[0, 1], [1, 2]]  # the initial candidates


def test_parse_selection():
    assert parse_selection("[3, 1, 3]", 3) == ([2, 0], 0)
    assert parse_selection('{"passages": [2]}', 3) == ([1], 0)
    assert parse_selection("Passages 1 and 4", 3) == ([0], 1)
    assert parse_selection('["Passage 2", "three"]', 3) == ([1], 1)
    assert parse_selection("[]", 3) == ([], 0)
    assert parse_selection("none", 3) == (None, 0)


def test_memory_budget_and_batched_selection():
    system, llm = make(Script(selections=["[1, 2]", "[1, 2]", "[]", "[]"]), top_s=2, memory_tokens=12)
    system.ingest(CATS3 + JAZZ3, 0)
    answers = system.answer([question(qid="q1"), question("my jazz nights", qid="q2")])
    # both clusters summarised in one call; both questions' selections in one call; then the answers
    assert llm.batches == [("cam_summarize", 2), ("cam_select", 2), ("answer", 2)]
    assert [len(a.info["retrieved"]) for a in answers] == [1, 1]  # a chunk costs 11 tokens of 12
    assert system.resources.diagnostics["cam_memory_truncated"] == 2


def test_stats_config_reset():
    system, _ = make()
    system.ingest(CATS3 + JAZZ3, 0)
    stats = system.memory_stats()
    assert stats["items"] == 6 + 2 and stats["tokens"] > 0
    assert system.config()["chunk_tokens"] == 12 and system.config()["alpha"] == 0.6
    system.reset("d")
    assert system.memory_stats() == {"items": 0, "tokens": 0}
    assert system.answer([question()])[0].text == "<final_answer>(a)"  # empty memory still answers


@pytest.mark.parametrize("name,args", [("cam", {}), ("cam-256", {"chunk_tokens": 256}),
                                       ("cam-flat", {"max_level": 0})])
def test_specs_resolve_and_build(name, args):
    spec = registry.resolve_system(name)
    assert {k: spec.args[k] for k in args} == args
    cls = registry.system_class(spec)
    assert cls is CAM and cls.description
    system = cls(Resources(ScriptedLLM(), HashEmbedder), **spec.args)
    assert {k: system.config()[k] for k in args} == args
