// Sortable leaderboard tables: a click on a header sorts that table by the column (again: the other way).
// Cells carry data-sort (their leading number); cells without one sort after those with one, by text.
"use strict";
document.querySelectorAll("table.board").forEach((table) => {
  const body = table.tBodies[0];
  table.querySelectorAll("th").forEach((th, col) => {
    th.addEventListener("click", () => {
      const dir = th.dataset.dir === "desc" ? "asc" : "desc";
      table.querySelectorAll("th").forEach((h) => { delete h.dataset.dir; });
      th.dataset.dir = dir;
      const value = (tr) => {
        const cell = tr.cells[col], n = parseFloat(cell.dataset.sort);
        return Number.isNaN(n) ? {text: cell.textContent} : {num: n};
      };
      const rows = [...body.rows].sort((a, b) => {
        const x = value(a), y = value(b);
        if ("num" in x && "num" in y) return dir === "asc" ? x.num - y.num : y.num - x.num;
        if ("num" in x) return -1;
        if ("num" in y) return 1;
        return dir === "asc" ? x.text.localeCompare(y.text) : y.text.localeCompare(x.text);
      });
      body.append(...rows);
    });
  });
});

// The per-type columns are collapsed so a table fits the window; the button before a table shows or hides them.
document.querySelectorAll("button.types").forEach((button) => {
  const table = button.nextElementSibling.querySelector("table.board");
  const label = button.textContent;
  button.addEventListener("click", () => {
    const shown = table.classList.toggle("show-types");
    button.textContent = shown ? "hide the per-type columns" : label;
  });
});
