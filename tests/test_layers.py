import pytest
from hypothesis import given
from hypothesis import strategies as st

from sefa_zoo import LayerSpecError, parse_layer_spec
from sefa_zoo.architecture import Architecture
from sefa_zoo.layers import format_layer_spec

GROUPS = Architecture.layer_groups(None, 18)


def test_examples():
    assert parse_layer_spec("all", 4) == (0, 1, 2, 3)
    assert parse_layer_spec("2-5", 18) == (2, 3, 4, 5)
    assert parse_layer_spec("0-1,4", 18) == (0, 1, 4)
    assert parse_layer_spec(" 4 , 0-1 ,1 ", 18) == (0, 1, 4)
    assert parse_layer_spec("6-end", 8) == (6, 7)


def test_named_groups_follow_the_paper():
    assert parse_layer_spec("bottom", 18, GROUPS) == (0, 1)
    assert parse_layer_spec("middle", 18, GROUPS) == (2, 3, 4, 5)
    assert parse_layer_spec("top", 18, GROUPS) == tuple(range(6, 18))
    assert parse_layer_spec("bottom,top", 14, Architecture.layer_groups(None, 14)) == (0, 1, *range(6, 14))


def test_groups_are_cut_to_small_models():
    assert Architecture.layer_groups(None, 1) == {"bottom": (0,)}
    assert Architecture.layer_groups(None, 4) == {"bottom": (0, 1), "middle": (2, 3)}


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "empty layer spec"),
        ("18", "out of range: valid indices are 0-17"),
        ("2-18", "out of range: valid indices are 0-17"),
        ("5-2", "runs backwards; write it as 2-5"),
        ("x", "not an index, a range A-B or a group"),
        ("1-", "not an index"),
        ("-1", "not an index"),
        ("1,,2", "not an index"),
        ("pose", "all, bottom, middle, top"),
    ],
)
def test_errors_say_what_is_valid(spec, message):
    with pytest.raises(LayerSpecError, match=message):
        parse_layer_spec(spec, 18, GROUPS)


def test_single_layer_model_error():
    with pytest.raises(LayerSpecError, match="the only valid index is 0"):
        parse_layer_spec("1", 1)


@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1), min_size=1))))
def test_format_then_parse_round_trips(case):
    n, indices = case
    assert parse_layer_spec(format_layer_spec(sorted(indices)), n) == tuple(sorted(indices))


@given(st.integers(1, 40), st.lists(st.tuples(st.integers(0, 45), st.integers(0, 45)), min_size=1, max_size=5))
def test_parse_is_the_union_of_its_items(n, ranges):
    items = [f"{a}-{b}" for a, b in ranges]
    valid = all(a <= b < n for a, b in ranges)
    if not valid:
        with pytest.raises(LayerSpecError):
            parse_layer_spec(",".join(items), n)
        return
    result = parse_layer_spec(",".join(items), n)
    expected = set().union(*(range(a, b + 1) for a, b in ranges))
    assert result == tuple(sorted(expected))
    assert list(result) == sorted(set(result))
    assert all(0 <= i < n for i in result)


@given(st.integers(1, 40), st.integers(0, 100))
def test_out_of_range_index_names_the_valid_range(n, index):
    if index < n:
        assert parse_layer_spec(str(index), n) == (index,)
    else:
        with pytest.raises(LayerSpecError, match=f"0-{n - 1}" if n > 1 else "only valid index is 0"):
            parse_layer_spec(str(index), n)


HUGE = "9" * 5000  # past Python's 4300-digit limit for int()


@pytest.mark.parametrize("spec", [HUGE, f"0-{HUGE}", f"{HUGE}-end", f"{HUGE}-{HUGE}", "1" + "0" * 40])
def test_numbers_of_any_length_are_out_of_range(spec):
    with pytest.raises(LayerSpecError, match="out of range: valid indices are 0-17") as info:
        parse_layer_spec(spec, 18, GROUPS)
    assert len(str(info.value)) < 200


def test_leading_zeros_do_not_make_a_number_large():
    assert parse_layer_spec("0" * 5000 + "3-" + "0" * 5000 + "4", 18) == (3, 4)


@pytest.mark.parametrize("spec", ["٣", "1-٣", "３", "²", "٣-end"])
def test_only_ascii_digits_are_indices(spec):
    with pytest.raises(LayerSpecError, match="not an index"):
        parse_layer_spec(spec, 18, GROUPS)


def test_a_huge_item_is_shortened_in_the_message():
    with pytest.raises(LayerSpecError) as info:
        parse_layer_spec("x" * 100_000, 18, GROUPS)
    assert len(str(info.value)) < 300


def test_a_group_that_reaches_past_the_model_is_an_error():
    with pytest.raises(LayerSpecError, match="group 'top' holds layer 9, out of range: valid indices are 0-3"):
        parse_layer_spec("top", 4, {"top": (2, 9)})
