"""Random and hostile text for the parsers of what users type and write: layer specs, index
lists and catalogue files. The only exceptions allowed out are SefaZooError subclasses with a
one-line message, and whatever they accept is well formed."""

import json
import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sefa_zoo import CatalogueEntry, CatalogueError, LayerSpecError, parse_layer_spec
from sefa_zoo.architecture import Architecture
from sefa_zoo.catalogue import parse_catalogue
from sefa_zoo.errors import SefaZooError
from sefa_zoo.ranges import MAX_COUNT, parse_index_list

FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

# What a valid item looks like, written independently of the parsers: ASCII digits only.
LAYER_ITEM = re.compile(r"[0-9]+(-([0-9]+|end))?")
INDEX_ITEM = re.compile(r"[0-9]+(-[0-9]+)?")

SPEC_PIECES = st.one_of(
    st.sampled_from(["all", "ALL", "end", "bottom", "middle", "top", "-", ",", " ", "\n", "\t", "٣", "３", "²",
                     "0", "00", "1", "17", "18", "-end", "9999", "10000", "4294967296"]),
    st.integers(0, 60).map(str),
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.integers(1, 6000).map(lambda n: "0" * n + "1"),
    st.text(max_size=4),
)
SPECS = st.lists(SPEC_PIECES, max_size=12).map("".join)


def assert_one_line(error):
    message = str(error)
    assert len(message.splitlines()) == 1 and len(message) < 500, message


def items(spec):
    return [item.strip() for item in spec.strip().lower().split(",")]


@FUZZ
@given(spec=SPECS, num_layers=st.integers(1, 40))
def test_layer_specs(spec, num_layers):
    groups = Architecture.layer_groups(None, num_layers)
    try:
        result = parse_layer_spec(spec, num_layers, groups)
    except LayerSpecError as error:
        assert_one_line(error)
        return
    assert result and list(result) == sorted(set(result))
    assert all(0 <= index < num_layers for index in result)
    assert all(item == "all" or item in groups or LAYER_ITEM.fullmatch(item) for item in items(spec))


@FUZZ
@given(spec=SPECS, limit=st.one_of(st.none(), st.integers(1, 50), st.integers(MAX_COUNT, 10**15)))
def test_index_lists(spec, limit):
    try:
        result = parse_index_list(spec, what="seed", limit=limit)
    except SefaZooError as error:
        assert_one_line(error)
        return
    assert result and list(result) == sorted(set(result)) and len(result) <= MAX_COUNT
    assert all(0 <= index and (limit is None or index < limit) for index in result)
    assert all((item == "all" and limit is not None) or INDEX_ITEM.fullmatch(item) for item in items(spec))


# --- catalogue files -------------------------------------------------------------------------

FIELDS = ["name", "architecture", "layout", "source", "resolution", "num_layers", "license", "license_short",
          "provenance", "description", "notes", "z_dim", "w_dim", "image_size", "kind", "repo_id", "filename",
          "revision", "url", "path", "sha256", "size", "models", "bucket", "<<"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.integers(0, 10**1000), st.floats(),
    st.text(max_size=20), st.sampled_from(["stylegan2", "rosinality", "hub", "url", "local", "bucket", "x/y",
                                           "../g.pt", "/etc/passwd", "a\\b", "~nobody-here/x", "0" * 40, "ab" * 32,
                                           "http://[::1", "https://h:99999/x", "2001-13-45"]),
    st.binary(max_size=8), st.dates(), st.datetimes(),
)
STRUCTURES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.one_of(st.sampled_from(FIELDS), SCALARS), children, max_size=6)),
    max_leaves=30,
)


VALID = {"name": "m", "architecture": "stylegan2", "layout": "rosinality", "resolution": 256, "num_layers": 14,
         "license": "mit", "provenance": "p", "description": "d",
         "source": {"kind": "hub", "repo_id": "a/b", "filename": "g.pt", "revision": "0" * 40}}
ENTRIES = st.one_of(
    STRUCTURES,
    st.dictionaries(st.sampled_from(FIELDS), STRUCTURES, max_size=8).map(lambda changes: {**VALID, **changes}),
)
YAML_TOKENS = st.sampled_from(["&a ", "*a", "&b [*a, *a]", "!!binary ", "!!timestamp ", "!!int ", "!!float ",
                               "!!bool ", "!!set ", "!!python/object:os.system ", "<<: ", "? ", ": ", "- ", "{",
                               "}", "[", "]", "\n", "  ", "#", "'", '"', "2001-13-45", "1:00:00:00", "9" * 5000,
                               "0x" + "f" * 100, ".nan", "~", "---\n", "...\n", "\t", "%YAML 1.1\n"])


def dumped(value):
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True)


@st.composite
def catalogue_texts(draw):
    entries = st.lists(ENTRIES, max_size=3)
    text = dumped(draw(st.one_of(entries, st.fixed_dictionaries({"models": entries}))))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.one_of(YAML_TOKENS, st.text(max_size=6))) + text[at:]
    return text


def assert_printable(entries):
    payload = json.dumps([entry.to_dict() for entry in entries])
    assert "NaN" not in payload and "Infinity" not in payload


@FUZZ
@given(text=st.one_of(catalogue_texts(), st.text(max_size=200)))
def test_catalogue_text(text):
    try:
        entries = parse_catalogue(text, "fuzz.yaml", "a test", frozenset({"bucket"}))
    except CatalogueError as error:
        assert_one_line(error)
    else:
        assert_printable(entries)
    problems = []
    try:
        entries = parse_catalogue(text, "fuzz.yaml", "a test", frozenset({"bucket"}), problems=problems)
    except CatalogueError as error:
        assert_one_line(error)
        return
    assert_printable(entries)
    for problem in problems:
        assert isinstance(problem, CatalogueError)
        assert_one_line(problem)


@FUZZ
@given(data=ENTRIES)
def test_catalogue_entries_from_python_data(data):
    try:
        entry = CatalogueEntry.from_dict(data, origin="fuzz", custom_source_kinds=frozenset({"bucket"}))
    except CatalogueError as error:
        assert_one_line(error)
        return
    assert_printable([entry])
