"""CoMAM tag parsing: nested, missing, unclosed and repeated tags; case and whitespace inside brackets."""
from __future__ import annotations

import pytest

from comam_bench.comam.tags import MISSING, MULTIPLE, UNCLOSED, scan, strip_tags


def test_one_block_is_found_and_stripped():
    t = scan("Sure.\n<information>\n the user hates jazz \n</information>\n<final_answer>(b)</final_answer>",
             "information")
    assert t.blocks == ("the user hates jazz",)
    assert t.problem is None and t.last() == "the user hates jazz" and t.joined() == "the user hates jazz"


@pytest.mark.parametrize("text", [
    "<INFORMATION>x</INFORMATION>",
    "<Information>x</information>",
    "< information >x</ information >",
    "<information>x< /information>",
])
def test_case_and_whitespace_inside_the_brackets_do_not_matter(text):
    assert scan(text, "information").blocks == ("x",)


def test_missing_tag_is_reported_and_gives_no_content():
    t = scan("The answer is (b).", "information")
    assert t.problem == MISSING and not t.found
    assert t.last() is None and t.joined() is None


def test_unclosed_tag_keeps_the_text_after_it():
    t = scan("<information>a</information> then <information>cut off here", "information")
    assert t.blocks == ("a",) and t.unclosed == "cut off here"
    assert t.problem == UNCLOSED
    assert t.last() == "cut off here"  # the block the output ended on
    assert t.joined() == "a\ncut off here"


def test_multiple_blocks_are_all_kept_in_order():
    t = scan("<final_answer>(a)</final_answer> no wait <final_answer>(c)</final_answer>", "final_answer")
    assert t.blocks == ("(a)", "(c)")
    assert t.problem == MULTIPLE
    assert t.last() == "(c)"  # like the protocol: the last answer counts
    assert t.joined(" | ") == "(a) | (c)"


def test_nested_tags_make_one_outer_block_without_inner_markers():
    t = scan("<information>outer <information>inner</information> rest</information>", "information")
    assert t.blocks == ("outer inner rest",)
    assert t.problem is None


def test_stray_closing_tag_is_ignored():
    t = scan("</information> text <information>x</information>", "information")
    assert t.blocks == ("x",) and t.problem is None


def test_other_tags_do_not_interfere():
    text = "<information>likes <b>jazz</b></information><final_answer>(d)</final_answer>"
    assert scan(text, "information").blocks == ("likes <b>jazz</b>",)
    assert scan(text, "final_answer").blocks == ("(d)",)


def test_tag_names_are_matched_exactly_not_as_prefixes():
    assert not scan("<informational>x</informational>", "information").found


def test_strip_tags_keeps_contents():
    assert strip_tags("<information> a </information> <FINAL_ANSWER>(b)", "information", "final_answer") == "a  (b)"
