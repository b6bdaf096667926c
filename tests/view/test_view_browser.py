"""The report in a real browser: headless Chromium opens the file from disk, the test clicks filters and
reads how many question rows are visible (skipped, with the reason, only where Chromium is absent)."""
from __future__ import annotations

import time

import pytest

from comam_bench.view import build_payload, render_report
from helpers_view import Texts, answer_letter, browser, close, question, write_run
from helpers_paths import REPO

N = 30


@pytest.fixture(scope="module")
def chrome():
    drv = browser()
    yield drv
    close(drv)


def open_report(drv, path):
    from selenium.webdriver.common.by import By

    drv.get(path.as_uri())
    drv.find_element(By.ID, "count")  # rendered
    return By


def visible_rows(drv, By) -> int:
    return len([r for r in drv.find_elements(By.CSS_SELECTOR, "#rows tr.q") if r.is_displayed()])


def count_text(drv, By) -> str:
    return drv.find_element(By.ID, "count").text


def test_filters_change_the_visible_rows(chrome, tmp_path):
    a, b = write_run(tmp_path, N, "a"), write_run(tmp_path, N, "b")
    out = tmp_path / "report.html"
    out.write_text(render_report(build_payload([a, b], texts=Texts(N))))
    By = open_report(chrome, out)
    assert visible_rows(chrome, By) == N and count_text(chrome, By) == f"{N} of {N} questions"

    chrome.find_element(By.CSS_SELECTOR, '#verdict-0 button[data-verdict="correct"]').click()
    right = [i for i in range(N) if answer_letter(i, "a") == question(i).gold]
    assert visible_rows(chrome, By) == len(right) and count_text(chrome, By) == f"{len(right)} of {N} questions"

    chrome.find_element(By.CSS_SELECTOR, '#verdict-0 button[data-verdict="all"]').click()
    chrome.find_element(By.ID, "f-disagree").click()
    differ = [i for i in range(N) if answer_letter(i, "a") != answer_letter(i, "b")]
    assert 0 < len(differ) < N and visible_rows(chrome, By) == len(differ)

    chrome.find_element(By.ID, "f-disagree").click()
    kind = question(0).type
    chrome.find_element(By.CSS_SELECTOR, f'#f-type option[value="{kind}"]').click()
    assert visible_rows(chrome, By) == sum(question(i).type == kind for i in range(N))


def test_a_row_expands_to_question_options_outputs_and_memory(chrome, tmp_path):
    a, b = write_run(tmp_path, 5, "a"), write_run(tmp_path, 5, "b", likelihood=True)
    out = tmp_path / "report.html"
    out.write_text(render_report(build_payload([a, b], texts=Texts(5))))
    By = open_report(chrome, out)
    chrome.find_elements(By.CSS_SELECTOR, "#rows tr.q")[1].click()
    detail = chrome.find_element(By.CSS_SELECTOR, "#rows tr.detail")
    assert question(1).text.strip() in detail.text
    assert len(detail.find_elements(By.CSS_SELECTOR, "ol.options li")) == 4
    gold = detail.find_element(By.CSS_SELECTOR, "ol.options li.is-gold")
    assert gold.text.startswith("gold") and "(b) option b" in gold.text
    panels = detail.find_elements(By.CSS_SELECTOR, ".panel")
    assert len(panels) == 2 and "memory given" in panels[0].text and "<final_answer>" in panels[1].text
    scores = panels[1].find_elements(By.CSS_SELECTOR, "table.cost")[0].text  # run b: a likelihood run
    assert "log-prob" in scores and "token, char, sum" in scores
    assert "likelihood (headline norm: token)" in chrome.find_element(By.ID, "runs").text


def test_a_128k_sized_run_opens_quickly_and_pages(chrome, tmp_path, capsys):
    n = 2727  # PersonaMem 128k's questions, each with a memory at the default 8,000-character cap
    d = write_run(tmp_path, n, "a", memory_chars=8000)
    out = tmp_path / "big.html"
    out.write_text(render_report(build_payload([d], texts=Texts(n))))
    size = out.stat().st_size
    t0 = time.perf_counter()
    By = open_report(chrome, out)
    opened = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\n128k-sized report: {n} questions, {size / 1e6:.1f} MB, opened in {opened:.2f} s")
    assert count_text(chrome, By) == f"{n} of {n} questions"
    assert visible_rows(chrome, By) == 50, "one page of rows is drawn, not all of them"
    chrome.find_element(By.ID, "next").click()
    assert "page 2 of 55" in chrome.find_element(By.ID, "pager").text
    chrome.find_element(By.CSS_SELECTOR, '#verdict-0 button[data-verdict="none"]').click()
    none = sum(answer_letter(i, "a") is None for i in range(n))
    assert count_text(chrome, By) == f"{none} of {n} questions"


def test_leaderboard_page_sorts_by_a_column_and_links_to_reports(chrome, tmp_path):
    from click.testing import CliRunner
    from selenium.webdriver.common.by import By

    from comam_bench.cli.main import cli

    runs = tmp_path / "results" / "runs"
    for system in ("a", "b"):
        write_run(runs, 12, system)
    result = CliRunner().invoke(cli, ["leaderboard", "--results-dir", str(tmp_path / "results"), "--html"])
    assert result.exit_code == 0, result.output
    chrome.get((tmp_path / "results" / "leaderboard.html").as_uri())
    table = chrome.find_element(By.CSS_SELECTOR, "table.board")
    headers = [th.text for th in table.find_elements(By.TAG_NAME, "th")]
    col = headers.index("accuracy")

    def column():
        rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        return [float(tr.find_elements(By.TAG_NAME, "td")[col].text) for tr in rows]

    table.find_elements(By.TAG_NAME, "th")[col].click()
    assert column() == sorted(column(), reverse=True) and len(set(column())) == 2
    table.find_elements(By.TAG_NAME, "th")[col].click()
    assert column() == sorted(column())
    table.find_element(By.LINK_TEXT, "report").click()
    assert chrome.title.startswith("comam-bench view: fake--")
    assert chrome.find_element(By.ID, "count").text == "12 of 12 questions"


def test_the_committed_leaderboard_page_fits_1400_pixels(chrome, tmp_path):
    from selenium.webdriver.common.by import By

    from comam_bench.leaderboard import build_board, scan_runs, write_outputs
    from comam_bench.view.board import write_board_html

    runs, _ = scan_runs(REPO / "results" / "runs")
    board = build_board(runs, REPO / "results" / "runs")  # with the paired tables, as the CLI builds it
    paths = write_outputs(board, tmp_path)
    page = write_board_html(board, tmp_path, paths["png"], reports=False, by_type_path=paths.get("png_by_type"),
                            cost_path=paths.get("png_cost"))
    chrome.get(page["html"].as_uri())  # the driver's window is 1400 px wide (view.browser.launch)
    width, inner = chrome.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert inner <= 1400 and width <= inner, (width, inner)
    # Every table fits whole, its latency and per-phase token columns included: none scrolls in its box.
    boxes = chrome.execute_script("return [...document.querySelectorAll('div.wide')].map("
                                  "d => [d.scrollWidth, d.clientWidth])")
    assert boxes and all(scroll <= client for scroll, client in boxes), boxes
    headers = [th.text for th in chrome.find_elements(By.CSS_SELECTOR, "table.board th") if th.is_displayed()]
    assert "ingest s p50 / p95" in headers and "answer tok/q" in headers
    # The per-type columns are collapsed, and one click shows them.
    button = chrome.find_elements(By.CSS_SELECTOR, "button.types")[0]
    table = button.find_element(By.XPATH, "following-sibling::div[1]//table")
    hidden = [th for th in table.find_elements(By.CSS_SELECTOR, "th.t")]
    assert hidden and not any(th.is_displayed() for th in hidden)
    button.click()
    assert all(th.is_displayed() for th in hidden) and button.text == "hide the per-type columns"
    assert len(chrome.find_elements(By.CSS_SELECTOR, "img.chart")) == 3  # overall, cost-accuracy, per type
