"""The graph algorithms of CAM (Constructivist Agentic Memory, arXiv 2510.05520), free of LLMs and texts.

- Base edges: chunk i links to the top-k earlier chunks j < i whose score
  s(i, j) = alpha * max(cos, 0) + (1 - alpha) * exp(-(i - j)^2 / (2 sigma^2)) reaches the threshold.
- Ego-centric disentanglement: a node gets one replica per connected component of its ego network (its
  neighbours, without itself); a replica is named (node, anchor), the anchor being the smallest node of the
  component (-1 for an isolated node). An edge (u, v) becomes an edge between u's replica for the component
  holding v and v's replica for the component holding u, so the replica graph does not overlap.
- Label propagation on the replica graph, incremental: replicas that survive an update keep their labels,
  new ones get fresh labels, and only replicas whose neighbourhood changed start propagating (a change
  re-activates the replica's neighbours). A node belongs to every cluster one of its replicas lands in.
- Levels: each cluster becomes a node one level up; two such nodes are linked when their clusters share a
  member or hold adjacent members (as the public CAM code builds its super graph). Levels stop growing when
  clustering no longer reduces the node count, or at `max_level`.

Determinism: all iteration is in sorted order, and label propagation breaks ties by keeping the current
label when it is among the most frequent, else taking the smallest (oldest) one.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

Adj = dict[int, set[int]]
Replica = tuple[int, int]  # (node, anchor)
ISOLATED = -1  # the anchor of an isolated node's only replica


# --------------------------------------------------------------------------- base graph
def edge_scores(cos_row, i: int, alpha: float, sigma: float) -> np.ndarray:
    """s(i, j) for j = 0..len(cos_row)-1: weighted cosine (negatives clipped) plus Gaussian proximity."""
    cos_row = np.maximum(np.asarray(cos_row, dtype=np.float64).reshape(-1), 0.0)
    j = np.arange(len(cos_row), dtype=np.float64)
    proximity = np.exp(-((i - j) ** 2) / (2.0 * sigma * sigma))
    return alpha * cos_row + (1.0 - alpha) * proximity


def pick_earlier(vectors, i: int, *, alpha: float, sigma: float, threshold: float, k: int) -> list[int]:
    """The earlier chunks j < i that chunk i links to: top-k by score among those reaching `threshold`.

    Only earlier chunks are candidates, so a chunk's edges never depend on how the history was batched.
    Equal scores go to the earlier chunk (stable sort).
    """
    if i <= 0 or k <= 0:
        return []
    vectors = np.asarray(vectors, dtype=np.float32)
    scores = edge_scores(vectors[:i] @ vectors[i], i, alpha, sigma)
    order = np.argsort(-scores, kind="stable")
    return [int(j) for j in order[:k] if scores[j] >= threshold]


def link(adj: Adj, u: int, v: int) -> None:
    """Add the undirected edge (u, v) (self-loops are ignored)."""
    if u != v:
        adj.setdefault(u, set()).add(v)
        adj.setdefault(v, set()).add(u)


# --------------------------------------------------------------------------- disentanglement
def ego_components(adj: Adj, v: int) -> dict[int, int]:
    """neighbour -> anchor (smallest node) of its connected component in v's ego network (v excluded)."""
    neighbours = adj.get(v, set())
    anchor_of: dict[int, int] = {}
    for start in sorted(neighbours):
        if start in anchor_of:
            continue
        component, stack = [], [start]  # start is the smallest unvisited neighbour: the anchor
        anchor_of[start] = start
        while stack:
            u = stack.pop()
            component.append(u)
            for w in adj.get(u, ()):
                if w in neighbours and w not in anchor_of:
                    anchor_of[w] = start
                    stack.append(w)
    return anchor_of


def replicas_of(v: int, components: dict[int, int]) -> list[Replica]:
    """v's replicas: one per ego component, or a single one when v is isolated."""
    anchors = sorted(set(components.values()))
    return [(v, a) for a in anchors] if anchors else [(v, ISOLATED)]


def replica_adjacency(adj: Adj, comps: dict[int, dict[int, int]]) -> dict[Replica, set[Replica]]:
    """The replica graph of `adj`, given every node's ego components."""
    rep_adj: dict[Replica, set[Replica]] = {}
    for v in adj:
        for r in replicas_of(v, comps[v]):
            rep_adj[r] = set()
    for u in adj:
        for v in adj[u]:
            if u < v:
                ru, rv = (u, comps[u][v]), (v, comps[v][u])
                rep_adj[ru].add(rv)
                rep_adj[rv].add(ru)
    return rep_adj


def disentangle(adj: Adj) -> dict[Replica, set[Replica]]:
    """Batch ego-centric disentanglement: the replica graph of `adj`."""
    return replica_adjacency(adj, {v: ego_components(adj, v) for v in adj})


def affected_nodes(old: Adj, new: Adj) -> set[int]:
    """Nodes of `new` whose ego network differs from `old`: new nodes, endpoints of changed edges, and the
    common neighbours of a changed edge's endpoints (the edge lies inside their ego networks)."""
    touched = set(new) - set(old)
    for v in set(old) | set(new):
        changed = old.get(v, set()) ^ new.get(v, set())
        for u in changed:
            touched.update((u, v))
            touched.update(new.get(u, set()) & new.get(v, set()))
    return touched & set(new)


# --------------------------------------------------------------------------- label propagation
def majority_label(labels: dict[Replica, int], neighbours, current: int) -> int:
    """Most frequent neighbour label; ties keep `current` when it is among them, else the smallest label."""
    if not neighbours:
        return current
    counts = Counter(labels[n] for n in neighbours)
    best = max(counts.values())
    if counts.get(current, 0) == best:
        return current
    return min(label for label, c in counts.items() if c == best)


def propagate(rep_adj: dict[Replica, set[Replica]], labels: dict[Replica, int], active,
              max_iters: int = 30) -> dict[Replica, int]:
    """Asynchronous label propagation from the `active` replicas, in sorted order; a replica whose label
    changes activates its neighbours for the next sweep. Stops when nothing changes or after `max_iters`
    sweeps. Returns new labels (the input is not modified)."""
    labels = dict(labels)
    active = set(active) & rep_adj.keys()
    for _ in range(max_iters):
        if not active:
            break
        woken: set[Replica] = set()
        for r in sorted(active):
            label = majority_label(labels, rep_adj[r], labels[r])
            if label != labels[r]:
                labels[r] = label
                woken.update(rep_adj[r])
        active = woken
    return labels


def clusters_of(labels: dict[Replica, int]) -> dict[int, frozenset[int]]:
    """label -> the nodes whose replicas carry it (a node can be in several clusters)."""
    members: dict[int, set[int]] = {}
    for (node, _), label in labels.items():
        members.setdefault(label, set()).add(node)
    return {label: frozenset(m) for label, m in sorted(members.items())}


def split_large(clusters: dict[int, frozenset[int]], max_size: int | None) -> dict[tuple[int, int], frozenset[int]]:
    """(label, part) -> members: clusters over `max_size` cut into consecutive runs of sorted members."""
    out: dict[tuple[int, int], frozenset[int]] = {}
    for label, members in clusters.items():
        ordered = sorted(members)
        size = max_size if max_size and max_size > 0 else max(len(ordered), 1)
        for part, lo in enumerate(range(0, len(ordered), size)):
            out[(label, part)] = frozenset(ordered[lo:lo + size])
    return out


@dataclass
class LevelClustering:
    """Incremental overlapping clustering of one level's graph (disentangle + label propagation).

    `update(adj)` takes the level's whole current graph, recomputes ego components only for affected
    nodes, keeps the labels of surviving replicas and propagates from the changed ones.
    """

    max_iters: int = 30
    adj: Adj = field(default_factory=dict)
    comps: dict[int, dict[int, int]] = field(default_factory=dict)
    rep_adj: dict[Replica, set[Replica]] = field(default_factory=dict)
    labels: dict[Replica, int] = field(default_factory=dict)
    next_label: int = 0
    last_active: int = 0  # replicas that started propagating in the last update (diagnostics, tests)

    def update(self, adj: Adj) -> dict[int, frozenset[int]]:
        adj = {v: set(n) for v, n in adj.items()}
        for v in set(self.comps) - set(adj):
            del self.comps[v]
        for v in affected_nodes(self.adj, adj):
            self.comps[v] = ego_components(adj, v)
        rep_adj = replica_adjacency(adj, self.comps)
        changed = {r for r, n in rep_adj.items() if self.rep_adj.get(r) != n}
        labels = {r: self.labels[r] for r in rep_adj if r in self.labels}
        for r in sorted(rep_adj):
            if r not in labels:
                labels[r] = self.next_label
                self.next_label += 1
        self.labels = propagate(rep_adj, labels, changed, self.max_iters)
        self.adj, self.rep_adj, self.last_active = adj, rep_adj, len(changed)
        return clusters_of(self.labels)


# --------------------------------------------------------------------------- levels
def super_adjacency(parents: dict[int, frozenset[int]], adj: Adj) -> Adj:
    """The next level's graph: parents linked when their clusters overlap or hold adjacent members."""
    owners: dict[int, list[int]] = {}
    for p, members in sorted(parents.items()):
        for m in members:
            owners.setdefault(m, []).append(p)
    up: Adj = {p: set() for p in parents}
    for m, ps in owners.items():
        for a in ps:
            for b in ps:
                link(up, a, b)
        for n in adj.get(m, ()):
            for a in ps:
                for b in owners.get(n, ()):
                    link(up, a, b)
    return up


@dataclass
class Level:
    """One level of the hierarchy: its graph and, above level 0, each node's children one level down."""

    adj: Adj
    children: dict[int, frozenset[int]]


class Hierarchy:
    """Levels of clustered graphs above a base graph, updated incrementally.

    Node ids above level 0 are ints handed out per level in order of first appearance of a cluster key
    (label, part), so a cluster that keeps its label keeps its parent node across updates.
    """

    def __init__(self, max_level: int = 10, max_cluster_size: int | None = 12, max_iters: int = 30) -> None:
        self.max_level = max_level
        self.max_cluster_size = max_cluster_size
        self.max_iters = max_iters
        self.levels: list[Level] = []
        self._clusterings: list[LevelClustering] = []
        self._ids: list[dict[tuple[int, int], int]] = []  # per level: cluster key -> parent id one level up
        self._next_id: list[int] = []

    def update(self, base: Adj) -> None:
        """Bring every level up to date with the base graph `base`."""
        adj, children, level = base, {}, 0
        while True:
            self._ensure(level)
            self.levels[level] = Level({v: set(n) for v, n in adj.items()}, children)
            clusters = split_large(self._clusterings[level].update(adj), self.max_cluster_size)
            if level >= self.max_level or len(clusters) >= len(adj):
                self._truncate(level + 1)
                return
            children = self._parents(level, clusters)
            adj = super_adjacency(children, adj)
            level += 1

    def _ensure(self, level: int) -> None:
        while len(self.levels) <= level:
            self.levels.append(Level({}, {}))
            self._clusterings.append(LevelClustering(self.max_iters))
            self._ids.append({})
            self._next_id.append(0)

    def _truncate(self, n: int) -> None:
        """Drop levels n and above (their clustering state too: rebuilt fresh if they come back)."""
        del self.levels[n:], self._clusterings[n:], self._ids[n:], self._next_id[n:]

    def _parents(self, level: int, clusters: dict[tuple[int, int], frozenset[int]]) -> dict[int, frozenset[int]]:
        ids = self._ids[level]
        for key in clusters:
            if key not in ids:
                ids[key] = self._next_id[level]
                self._next_id[level] += 1
        for key in set(ids) - set(clusters):
            del ids[key]
        return {ids[key]: members for key, members in clusters.items()}


# --------------------------------------------------------------------------- prune-and-grow
def grow_candidates(kept, levels: list[Level]) -> set[tuple[int, int]]:
    """(level, node) pairs reachable from the kept ones: same-level neighbours and children one level down."""
    out: set[tuple[int, int]] = set()
    for level, node in kept:
        if level >= len(levels):
            continue
        out.update((level, n) for n in levels[level].adj.get(node, ()))
        if level > 0:
            out.update((level - 1, c) for c in levels[level].children.get(node, ()))
    return out

