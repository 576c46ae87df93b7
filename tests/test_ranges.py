"""Index lists for seeds and directions (sefa_zoo.ranges)."""

import pytest

from sefa_zoo.errors import SefaZooError
from sefa_zoo.ranges import MAX_COUNT, parse_index_list

HUGE = "9" * 5000  # past Python's 4300-digit limit for int()


@pytest.mark.parametrize("spec", [HUGE, f"0-{HUGE}", f"{HUGE}-{HUGE}", f"3,{HUGE}", "0" * 5000 + "1" + "9" * 30])
@pytest.mark.parametrize("limit", [None, 10])
def test_numbers_of_any_length_are_a_clear_error(spec, limit):
    with pytest.raises(SefaZooError) as info:
        parse_index_list(spec, what="seed", limit=limit)
    message = str(info.value)
    assert "\n" not in message and len(message) < 200
    assert "seed" in message


def test_leading_zeros_do_not_make_a_number_large():
    assert parse_index_list("0" * 5000 + "7", what="seed") == (7,)
    assert parse_index_list("0" * 5000 + "2-" + "0" * 5000 + "4", what="direction", limit=5) == (2, 3, 4)


@pytest.mark.parametrize("spec", ["٣", "1-٣", "３", "²", "0-1,٣"])
def test_only_ascii_digits_are_numbers(spec):
    with pytest.raises(SefaZooError, match="is not an index N or a range A-B"):
        parse_index_list(spec, what="seed")


def test_the_whole_list_is_capped_not_only_each_range():
    spec = ",".join(f"{start}-{start + MAX_COUNT - 1}" for start in range(0, 3 * MAX_COUNT, MAX_COUNT))
    with pytest.raises(SefaZooError, match=f"more than {MAX_COUNT} seeds"):
        parse_index_list(spec, what="seed")
    overlapping = ",".join(["0-9999"] * 50)
    assert len(parse_index_list(overlapping, what="seed")) == MAX_COUNT


def test_all_is_capped_by_the_count_before_anything_is_expanded():
    with pytest.raises(SefaZooError, match=f"more than {MAX_COUNT} directions"):
        parse_index_list("all", what="direction", limit=10**15)


def test_a_huge_item_is_shortened_in_the_message():
    with pytest.raises(SefaZooError) as info:
        parse_index_list("x" * 100_000, what="seed")
    assert len(str(info.value)) < 200


def test_no_directions_to_choose_from():
    with pytest.raises(SefaZooError, match="no directions"):
        parse_index_list("all", what="direction", limit=0)
