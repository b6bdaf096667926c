// comam-bench view: renders the embedded run data. Every text from the data goes in through
// textContent (never innerHTML), so an answer or a memory containing markup shows as text.
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const RUNS = D.runs, QS = D.questions, PAGE = 50, LETTERS = ["a", "b", "c", "d"];
QS.forEach((q, i) => { q.i = i; });  // runs' answers are arrays aligned with the questions
const state = {type: "", context: "", distance: "", search: "", disagree: false, page: 0,
               verdicts: RUNS.map(() => "all"), open: new Set()};

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}
const fmt = (x, d = 3) => (typeof x === "number" ? x.toFixed(d) : "–");
const short = (s, n = 8) => (s ? String(s).slice(0, n) : "–");
const runLabel = (i) => "R" + (i + 1);
const distKey = (q) => (q.distance_blocks === null || q.distance_blocks === undefined ? "none" : String(q.distance_blocks));

function verdict(i, q) {
  const a = RUNS[i].answers[q.i];
  if (!a) return "missing";
  if (a.correct) return "correct";
  return a.extracted ? "wrong" : "none";
}
function disagrees(q) {
  const picks = new Set();
  let answered = 0;
  RUNS.forEach((r) => { const a = r.answers[q.i]; if (a) { answered++; picks.add(a.extracted || "∅"); } });
  return answered > 1 && picks.size > 1;
}
function matches(q) {
  if (state.type && q.type !== state.type) return false;
  if (state.context && q.context_id !== state.context) return false;
  if (state.distance && distKey(q) !== state.distance) return false;
  if (state.disagree && !disagrees(q)) return false;
  for (let i = 0; i < RUNS.length; i++) {
    const want = state.verdicts[i], v = verdict(i, q);
    if (want === "all") continue;
    if (want === "wrong" ? !(v === "wrong" || v === "none") : v !== want) return false;
  }
  if (state.search) {
    const hay = [q.id, q.topic, q.text || ""].join(" ").toLowerCase();
    if (!hay.includes(state.search)) return false;
  }
  return true;
}

// ------------------------------------------------------------------ header
function runCard(r, i) {
  const ci = r.ci95 ? `${fmt(r.ci95[0])}–${fmt(r.ci95[1])}` : "–";
  const pq = (r.cost && r.cost.per_question) || {};
  const proto = r.protocol.name + (r.protocol.headline_norm ? ` (headline norm: ${r.protocol.headline_norm})` : "");
  const rows = [
    ["system", r.system + (Object.keys(r.system_args).length ? " " + JSON.stringify(r.system_args) : "")],
    ["model", r.model || "none (model-free)"], ["protocol", proto], ["task", r.task],
    r.f1 !== undefined
      ? ["F1", `${fmt(r.f1)} (95% CI ${ci}, bootstrap over conversations; categories 1-4 ${fmt(r.f1_1_4)}) over ${r.n} questions` +
        (r.judge_model ? `; judge ${r.judge_model}: ${fmt(r.judge)}` : "; no judge")]
      : ["accuracy", `${fmt(r.accuracy)} (95% CI ${ci}, chance ${fmt(r.chance, 2)}) over ${r.n} questions`],
    ["no letter", r.extraction_failures ?? "–"],
    ["cost / question", `${pq.calls ?? "–"} calls, ${pq.prompt_tokens ?? "–"} prompt + ${pq.completion_tokens ?? "–"} generated tokens, ${pq.seconds ?? "–"} s`],
    ["peak memory", r.peak_rss_mb != null ? `${Math.round(r.peak_rss_mb)} MiB (largest process)` : "not recorded"],
    ["questions", r.selection || (r.complete ? "not recorded" : "–")],
    ["spec hash", r.spec_hash], ["commit", (r.commit || "unknown") + (r.dirty ? " (dirty)" : "")],
    ["recorded", (r.created || "–") + (r.complete ? "" : " — INCOMPLETE run: no run.json yet")],
    ["memory kept", r.memory_kept ? "yes (memory.jsonl)" : "no: this run kept no memory.jsonl (recorded before memory keeping, or run with --no-keep-memory / over 1000 questions)"],
  ];
  for (const [norm, acc] of Object.entries(r.by_norm || {})) rows.push([`accuracy (${norm} norm)`, fmt(acc)]);
  return el("div", {class: "card", "data-run": i},
    el("h2", {}, el("span", {class: "tag r" + (i % 4)}, runLabel(i)), " ", r.run_id),
    el("dl", {}, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
}
function header() {
  const tasks = [...new Set(RUNS.map((r) => r.task))];
  document.getElementById("title").textContent =
    `${tasks.join(", ")}: ${RUNS.map((r) => r.system).join(" vs ")}`;
  const notes = document.getElementById("notes");
  D.notes.forEach((n) => notes.append(el("p", {class: "note"}, n)));
  const box = document.getElementById("runs");
  RUNS.forEach((r, i) => box.append(runCard(r, i)));
}

// ------------------------------------------------------------------ filters
function counted(key) {
  const c = new Map();
  QS.forEach((q) => c.set(key(q), (c.get(key(q)) || 0) + 1));
  return c;
}
function select(id, label, counts, order, name) {
  const s = el("select", {id, onchange: (e) => { state[name] = e.target.value; state.page = 0; render(); }},
    el("option", {value: ""}, `all (${QS.length})`),
    order([...counts.keys()]).map((k) => el("option", {value: k}, `${label(k)} (${counts.get(k)})`)));
  return el("label", {}, name + " ", s);
}
function verdictButtons(i) {
  const group = el("span", {class: "buttons", id: `verdict-${i}`});
  for (const v of ["all", "correct", "wrong", "none"]) {
    group.append(el("button", {type: "button", "data-verdict": v, class: v === "all" ? "on" : "",
      onclick: (e) => {
        state.verdicts[i] = v; state.page = 0;
        group.querySelectorAll("button").forEach((b) => b.classList.toggle("on", b === e.target));
        render();
      }}, v === "none" ? "no letter" : v));
  }
  return el("span", {class: "verdict"}, el("span", {class: "tag r" + (i % 4)}, runLabel(i)), " ", group);
}
function filters() {
  const box = document.getElementById("filters");
  const num = (ks) => ks.sort((a, b) => (a === "none") - (b === "none") || Number(a) - Number(b));
  box.append(select("f-type", (k) => k, counted((q) => q.type), (ks) => ks.sort(), "type"));
  box.append(select("f-context", (k) => short(k, 10), counted((q) => q.context_id), (ks) => ks, "context"));
  box.append(select("f-distance", (k) => (k === "none" ? "unknown" : k + " sessions"), counted(distKey), num, "distance"));
  RUNS.forEach((_, i) => box.append(verdictButtons(i)));
  if (RUNS.length > 1) {
    box.append(el("label", {}, el("input", {type: "checkbox", id: "f-disagree",
      onchange: (e) => { state.disagree = e.target.checked; state.page = 0; render(); }}), " only where runs disagree"));
  }
  box.append(el("input", {type: "search", id: "f-search", placeholder: "search id, topic, question",
    oninput: (e) => { state.search = e.target.value.trim().toLowerCase(); state.page = 0; render(); }}));
}

// ------------------------------------------------------------------ table
const COLUMNS = ["#", "question", "type", "topic", "context", "distance", "gold"];
function thead() {
  document.getElementById("thead").append(el("tr", {}, COLUMNS.map((c) => el("th", {}, c)),
    RUNS.map((r, i) => el("th", {title: r.run_id}, el("span", {class: "tag r" + (i % 4)}, runLabel(i)), " ", r.system))));
}
function toggle(q) {
  state.open.has(q.id) ? state.open.delete(q.id) : state.open.add(q.id);
  render();
}
function row(q, index) {
  const tr = el("tr", {class: "q", "data-qid": q.id, tabindex: "0",
    onclick: () => toggle(q), onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(q); } }},
    el("td", {}, index + 1), el("td", {class: "mono", title: q.id}, short(q.id, 13)), el("td", {}, q.type),
    el("td", {}, q.topic), el("td", {class: "mono", title: q.context_id}, short(q.context_id)),
    el("td", {}, q.distance_blocks ?? "–"), el("td", {class: "mono"}, q.gold));
  RUNS.forEach((r, i) => {
    const a = r.answers[q.i], v = verdict(i, q);
    const f1 = a && a.f1 !== undefined ? ` · F1 ${fmt(a.f1, 2)}` + (a.judge === true ? " · J ✓" : a.judge === false ? " · J ✗" : "") : "";
    tr.append(el("td", {class: "v " + v}, a ? (a.extracted || "∅") + (f1 || (a.correct ? " ✓" : " ✗")) : "–"));
  });
  if (state.open.has(q.id)) tr.classList.add("open");
  return tr;
}
function render() {
  const shown = QS.filter(matches);
  const pages = Math.max(1, Math.ceil(shown.length / PAGE));
  state.page = Math.min(state.page, pages - 1);
  const body = document.getElementById("rows");
  body.replaceChildren();
  shown.slice(state.page * PAGE, (state.page + 1) * PAGE).forEach((q) => {
    body.append(row(q, q.i));
    if (state.open.has(q.id)) body.append(el("tr", {class: "detail"}, el("td", {colspan: COLUMNS.length + RUNS.length}, detail(q))));
  });
  document.getElementById("count").textContent = `${shown.length} of ${QS.length} questions`;
  const pager = document.getElementById("pager");
  pager.replaceChildren();
  if (pages > 1) {
    const go = (p) => () => { state.page = p; render(); };
    pager.append(el("button", {type: "button", id: "prev", disabled: state.page === 0, onclick: go(state.page - 1)}, "‹ prev"),
      ` page ${state.page + 1} of ${pages} `,
      el("button", {type: "button", id: "next", disabled: state.page >= pages - 1, onclick: go(state.page + 1)}, "next ›"));
  }
}

// ------------------------------------------------------------------ one question, expanded
function options(q) {
  if (!q.options) return el("p", {class: "note"}, "Options not available (the task's data files were not loaded; see the notes above).");
  return el("ol", {class: "options"}, q.options.map((text, k) => {
    const letter = LETTERS[k], marks = [];
    if (letter === q.gold) marks.push(el("span", {class: "badge gold"}, "gold"));
    RUNS.forEach((r, i) => {
      const a = r.answers[q.i];
      if (a && a.extracted === letter) marks.push(el("span", {class: "badge r" + (i % 4)}, runLabel(i) + " chose"));
    });
    return el("li", {class: letter === q.gold ? "is-gold" : ""}, marks, " ", text);
  }));
}
function block(title, text, open) {
  if (text === undefined || text === null) return null;
  return el("details", {open: open}, el("summary", {}, title), el("pre", {}, text === "" ? "(empty)" : text));
}
function costTable(a) {
  const rows = [["all", a.cost], ...Object.entries(a.agents || {})];
  return el("table", {class: "cost"}, el("tr", {}, ["cost (share of its batch)", "calls", "prompt tok", "generated tok", "seconds"].map((h) => el("th", {}, h))),
    rows.map(([name, c]) => el("tr", {}, el("td", {}, name), ["calls", "prompt_tokens", "completion_tokens", "seconds"].map((k) => el("td", {}, c && c[k] !== undefined ? +(+c[k]).toFixed(3) : "–")))));
}
function scoresTable(a) {
  if (!a.option_scores) return null;
  const chosen = a.chosen || {};
  return el("table", {class: "cost"}, el("tr", {}, ["option", "log-prob", "tokens", "chars", "greedy", "chosen by"].map((h) => el("th", {}, h))),
    a.option_scores.map((s, k) => el("tr", {}, el("td", {}, LETTERS[k]), el("td", {}, fmt(s.logprob)), el("td", {}, s.tokens), el("td", {}, s.chars),
      el("td", {}, s.greedy ? "yes" : "no"), el("td", {}, Object.keys(chosen).filter((n) => chosen[n] === LETTERS[k]).join(", ")))));
}
function panel(r, i, q) {
  const a = r.answers[q.i];
  const head = el("h3", {}, el("span", {class: "tag r" + (i % 4)}, runLabel(i)), " ", r.system);
  if (!a) return el("div", {class: "panel"}, head, el("p", {class: "note"}, "This run did not answer this question."));
  const v = verdict(i, q);
  const says = a.extracted ? `answered (${a.extracted})` : "named no single letter";
  const agent = a.info && a.info.agent ? ` (${a.info.agent} agent)` : "";
  const mem = a.memory;
  const memTitle = mem ? `memory given${mem.source === "prompt" ? " (the prompt, less the question)" : ""}: ${mem.memory_chars} chars` +
    (mem.memory_cut ? `, ${mem.memory_cut} cut from the middle` : "") : null;
  return el("div", {class: "panel"}, head,
    el("p", {class: "verdict-line " + v}, a.f1 !== undefined
      ? `answered: ${a.extracted || "(nothing)"} · F1 ${fmt(a.f1)}` + (a.judge === null || a.judge === undefined ? "" : ` · judge: ${a.judge ? "correct" : "wrong"}`)
      : `${says}: ${a.correct ? "correct" : "wrong"}`),
    scoresTable(a),
    block("raw output" + agent, a.raw_output, true),
    mem ? block(memTitle, mem.memory, false) : el("p", {class: "note"}, r.memory_kept ? "No memory kept for this question." : "Memory not kept by this run."),
    Object.entries(a.agent_outputs || {}).map(([name, o]) =>
      block(`${name} agent output: ${o.chars} chars` + (o.cut ? `, ${o.cut} cut` : ""), o.text, false)),
    costTable(a),
    Object.keys(a.info || {}).length ? block("info", JSON.stringify(a.info, null, 1), false) : null,
    Object.keys(a.diagnostics || {}).length ? block("diagnostics (its batch)", JSON.stringify(a.diagnostics, null, 1), false) : null);
}
function detail(q) {
  return el("div", {class: "detail-box"},
    el("p", {class: "qtext"}, q.text || "(question text not available: the task's data files were not loaded)"),
    el("p", {class: "meta"}, `id ${q.id} · context ${q.context_id} · end index ${q.end_index}` +
      (q.distance_tokens ? ` · ${q.distance_tokens} tokens from the evidence` : "")),
    options(q),
    el("div", {class: "panels", style: `grid-template-columns: repeat(${RUNS.length}, minmax(0, 1fr))`}, RUNS.map((r, i) => panel(r, i, q))));
}

header(); filters(); thead(); render();
