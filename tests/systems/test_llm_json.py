"""The tolerant JSON parser: what small models actually write."""
from comam_bench.systems.llm_json import as_bool, as_str_list, iter_json_values, parse_json, parse_json_object


def test_plain_and_fenced():
    assert parse_json('{"facts": ["a"]}') == {"facts": ["a"]}
    assert parse_json('Sure!\n```json\n{"facts": ["a", "b"]}\n```\nDone.') == {"facts": ["a", "b"]}


def test_first_value_in_prose():
    text = 'Here you go: {"x": 1, "y": "has } brace"} and then {"z": 2}'
    assert parse_json(text) == {"x": 1, "y": "has } brace"}


def test_python_literals_and_trailing_commas():
    assert parse_json('{"should_evolve": True, "actions": ["strengthen",],}') == {
        "should_evolve": True, "actions": ["strengthen"]}
    # a literal word inside a string is left alone
    assert parse_json('{"t": "True story", "b": False}') == {"t": "True story", "b": False}
    assert parse_json("{'facts': ['likes tea']}") == {"facts": ["likes tea"]}


def test_truncated_output_is_closed():
    assert parse_json('{"facts": ["likes tea", "hates cof') == {"facts": ["likes tea", "hates cof"]}
    # a dangling key is cut back to the last complete element
    assert parse_json('{"keywords": ["x", "y"], "context') == {"keywords": ["x", "y"]}
    assert parse_json('[1, 2, ') == [1, 2]


def test_garbage_is_none():
    for text in ("", "   ", "no json here", "{", "}{", None, '"just a string"'):
        assert parse_json(text) is None, text


def test_object_with_key_and_bare_list():
    assert parse_json_object('{"facts": []}', "facts") == {"facts": []}
    assert parse_json_object('{"other": 1}', "facts") is None
    assert parse_json_object('{"other": 1}') == {"other": 1}
    assert parse_json_object('["a", "b"]', "facts") is None
    assert parse_json_object('["a", "b"]', "facts", bare_list=True) == {"facts": ["a", "b"]}
    assert parse_json_object('["a"]', bare_list=True) is None
    assert parse_json_object('{"tags": ["x"]}', ("keywords", "tags")) == {"tags": ["x"]}


def test_echoed_prompt_values_are_skipped():
    # what SmolLM2-135M wrote: the prompt's fact list echoed, then a cut-off answer object
    text = ('Existing memories: none\nNew facts: ["likes tea"]\nOutput:\n{\n  "memory": [{"id": "0", '
            '"text": "likes tea", "event": "ADD"}, {"id": "1", "text": "has a c')
    assert parse_json_object(text, "memory") == {"memory": [
        {"id": "0", "text": "likes tea", "event": "ADD"}, {"id": "1", "text": "has a c"}]}
    assert list(iter_json_values('[1] junk {"a": 2} {bad} [3]')) == [[1], {"a": 2}, [3]]
    assert list(iter_json_values("{" * 5000)) == []  # bounded work on bracket soup


def test_coercions():
    assert as_str_list(["a", " ", 3, ["b", "c"], {"text": "d"}, None, True, "...", "tag_1"]) == [
        "a", "3", "b", "c", "d", "tag_1"]
    assert as_str_list("x, y ,,z") == ["x", "y", "z"]
    assert as_str_list(7) is None
    assert as_bool("True") and as_bool(1) and as_bool(True)
    assert not as_bool("no") and not as_bool(None) and not as_bool([])
