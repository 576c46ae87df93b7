"""The catalogue: the shipped zoo.yaml, validation, user files, plugin entries, lookups."""

import math
import os
import re
import textwrap
import warnings
from importlib.resources import files
from pathlib import Path

import pytest
import yaml

from sefa_zoo import CatalogueEntry, CatalogueError, UnknownModelError, get_architecture, hookimpl
from sefa_zoo.catalogue import CatalogueWarning, display_path, find_entries, get_entry, load_catalogue, parse_catalogue
from sefa_zoo.sources import HubSource, LocalSource

REPO_ZOO = Path(__file__).resolve().parents[1] / "zoo.yaml"
SHIPPED_NAMES = [item["name"] for item in yaml.safe_load(REPO_ZOO.read_text())["models"]]


def entry_yaml(name="my-model", **overrides):
    """One catalogue entry as YAML text (a list item), with fields replaced or removed (None)."""
    fields = {
        "name": name,
        "architecture": "stylegan2",
        "layout": "rosinality",
        "source": {
            "kind": "hub",
            "repo_id": "someone/models",
            "filename": "g.pt",
            "revision": "0123456789abcdef0123456789abcdef01234567",
            "sha256": "ab" * 32,
            "size": 1234,
        },
        "resolution": 256,
        "z_dim": 512,
        "w_dim": 512,
        "num_layers": 14,
        "license": "mit",
        "provenance": "trained by me",
        "description": "a test model",
    }
    for key, value in overrides.items():
        if key.startswith("source_"):
            fields["source"][key[len("source_"):]] = value
        elif value is None:
            fields.pop(key)
        else:
            fields[key] = value
    text = yaml.safe_dump([fields], sort_keys=False)
    return text


def catalogue_text(*entries):
    return "models:\n" + textwrap.indent("".join(entries), "  ")


@pytest.fixture
def user_file(config_dir):
    """Write the user catalogue (config dir) and return its path."""
    path = config_dir / "zoo.yaml"

    def write(text):
        path.write_text(text, encoding="utf-8")
        return path

    return write


# --- the shipped catalogue --------------------------------------------------------------


def test_shipped_catalogue_loads(config_dir):
    catalogue = load_catalogue()
    assert catalogue.notices == []
    assert len(catalogue.entries) >= 30
    shipped = {item["name"] for item in yaml.safe_load(REPO_ZOO.read_text())["models"]}
    for entry in catalogue.entries.values():
        if entry.name in shipped:
            assert entry.origin == "the built-in catalogue", entry.name
        else:  # contributed by a built-in plugin (the demo model)
            assert entry.origin.startswith("plugin ") and entry.origin.endswith("(built-in)"), entry.name


def test_packaged_zoo_yaml_is_the_top_level_catalogue():
    assert (files("sefa_zoo") / "zoo.yaml").read_text(encoding="utf-8") == REPO_ZOO.read_text(encoding="utf-8")


def test_shipped_names_are_unique():
    assert len(SHIPPED_NAMES) == len(set(SHIPPED_NAMES))


# What each architecture's W+ / projection-layer count is at a resolution.
NUM_LAYERS = {
    "stylegan2": lambda resolution: 2 * int(math.log2(resolution)) - 2,
    "stylegan": lambda resolution: 2 * int(math.log2(resolution)) - 2,
    "pggan": lambda resolution: 1,
    "stylegan3": lambda resolution: 16,
    # one z feeds gen_z and every conditional batch norm: one latent code, index 0
    "biggan-deep": lambda resolution: 1,
}
# The file name each layout's files carry on the Hub.
SUFFIXES = {"rosinality": ".pt", "nvidia": ".pkl", "nvidia-tf": ".pkl", "genforce": (".pth", ".bin"),
            "pretrained-biggan": "pytorch_model.bin"}


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_shipped_entries_are_pinned_and_consistent(config_dir, name):
    entry = get_entry(name)
    assert entry.origin == "the built-in catalogue"
    source = entry.source
    assert isinstance(source, HubSource)
    assert re.fullmatch(r"[0-9a-f]{40}", source.revision)
    assert source.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", source.sha256)
    architecture = get_architecture(entry.architecture)
    assert entry.layout in architecture.layouts
    assert entry.num_layers == NUM_LAYERS[entry.architecture](entry.resolution)
    assert 2 ** int(math.log2(entry.resolution)) == entry.resolution
    assert entry.z_dim == (128 if entry.architecture == "biggan-deep" else 512)
    assert entry.w_dim == (512 if architecture.latent_space == "w" else None)
    # a re-upload's licence tag is the re-uploader's claim: the upstream terms apply; only a model's
    # author uploading it gives the licence its card states
    assert entry.license.startswith("upstream terms") or "uploaded by the model's author" in entry.provenance
    assert entry.notes and "licence" in entry.notes
    assert source.filename.endswith(SUFFIXES[entry.layout])


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_shipped_entries_say_what_is_not_known(config_dir, name):
    entry = get_entry(name)
    if entry.source.size is None:
        assert entry.approx_size is not None or "size unknown" in entry.notes
    if entry.source.sha256 is None:
        assert "the first download shows the file's hash" in entry.notes
    # the short label `sefa-zoo list` shows must not hide a non-commercial licence
    if "non-commercial" in entry.license:
        assert entry.license_short and "non-commercial" in entry.license_short


def test_shipped_car_model_has_its_picture_size(config_dir):
    car = get_entry("stylegan2-car")
    assert (car.resolution, car.num_layers, car.image_size) == (512, 16, (512, 384))
    assert car.source.sha256 == "c69f161fd576801027cbaa8b09142b5dd9f508034b2d0f4a2a0cdcbc1d587c9c"
    assert car.source.size == 123949595
    assert car.to_dict()["image_size"] == [512, 384]


def test_same_file_is_not_catalogued_twice(config_dir):
    seen = {}
    for entry in load_catalogue().entries.values():
        key = entry.source.sha256 or (entry.source.repo_id, entry.source.filename)
        assert key not in seen, f"{entry.name} repeats {seen[key]}"
        seen[key] = entry.name


# --- validation ---------------------------------------------------------------------------


def load_with_warnings():
    """load_catalogue() and the messages of the catalogue warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        catalogue = load_catalogue()
    return catalogue, [str(w.message) for w in caught if issubclass(w.category, CatalogueWarning)]


def raw_entry(entry_name, *lines, **overrides):
    """An entry as YAML text with ``lines`` (raw YAML, written as is) added to its fields."""
    return entry_yaml(entry_name, **overrides) + "".join(f"  {line}\n" for line in lines)


def line_of(path, text):
    return path.read_text().splitlines().index(text) + 1


URL = {"kind": "url", "url": "https://example.com/g.pt", "sha256": "ab" * 32}
HUB = ("kind: hub, repo_id: someone/models, filename: g.pt, "
       "revision: 0123456789abcdef0123456789abcdef01234567")
HUGE = "9" * 5000  # past Python's 4300-digit limit for int()
# about 20 bytes of YAML per level, 2**40 items when expanded
ALIAS_BOMB = "[" + ", ".join(["&a0 [x, x]", *(f"&a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 41))]) + "]"

BAD_ENTRIES = [
    ({"license": None}, "'license'"),
    ({"source_sha256": "abc123"}, "'source.sha256'"),
    ({"source_sha256": "ab" * 32 + "\n"}, "'source.sha256'"),
    ({"source_revision": "main"}, "'source.revision'"),
    ({"source_revision": "0123456"}, "'source.revision'"),
    ({"source_revision": "0123456789abcdef0123456789abcdef01234567\n"}, "'source.revision'"),
    ({"resolutoin": 256}, "'resolutoin'"),
    ({"resolution": "big"}, "'resolution'"),
    ({"resolution": 10**12}, "'resolution'"),
    ({"num_layers": 10**9}, "'num_layers'"),
    ({"z_dim": 2**70}, "'z_dim'"),
    ({"image_size": [512]}, "'image_size'"),
    ({"image_size": [512, 10**12]}, "'image_size'"),
    ({"source_size": 10**30}, "'source.size'"),
    ({"source_kind": "ftp"}, "'source.kind'"),
    ({"source_filename": "../../.ssh/id_rsa"}, "'source.filename'"),
    ({"source_filename": "models/../../g.pt"}, "'source.filename'"),
    ({"source_filename": "/etc/passwd"}, "'source.filename'"),
    ({"source_filename": "models\\g.pt"}, "'source.filename'"),
    ({"source_filename": "models//g.pt"}, "'source.filename'"),
    ({"source_filename": "./g.pt"}, "'source.filename'"),
    ({"source_filename": "g.pt\0"}, "'source.filename'"),
    ({"source_repo_id": "some--one/models"}, "'source.repo_id'"),
    ({"source_repo_id": "someone/models.git"}, "'source.repo_id'"),
    ({"source_repo_id": "someone/" + "m" * 97}, "'source.repo_id'"),
    ({"source": {**URL, "url": "http://[::1/g.pt"}}, "'source.url'"),
    ({"source": {**URL, "url": "https://example.com:99999/g.pt"}}, "'source.url'"),
    ({"source": {**URL, "url": "https://exa mple.com/g.pt"}}, "'source.url'"),
    ({"source": {**URL, "url": "https:///g.pt"}}, "'source.url'"),
    ({"source": {"kind": "local", "path": "~no-such-user-of-sefa-zoo/g.pt"}}, "'source.path'"),
    ({"source": {"kind": "local", "path": "g\0.pt"}}, "'source.path'"),
    ({"source": {"kind": "hub", "repo_id": "someone/models", "filename": "g.pt",
                 "revision": "0123456789abcdef0123456789abcdef01234567", 7: "x"}}, "'source.7'"),
]

RAW_BAD_FIELDS = [
    ({"resolution": None}, ["resolution: 2001-13-45"], "'resolution'"),
    ({"resolution": None}, ["resolution: 2001-02-30 25:61:00"], "'resolution'"),
    ({"resolution": None}, [f"resolution: {HUGE}"], "'resolution'"),
    ({"resolution": None}, [f"resolution: 0x{'f' * 5000}"], "'resolution'"),
    ({"num_layers": None}, ["num_layers: 1" + ":00" * 50_000], "'num_layers'"),
    ({"source": None}, [f"source: {{{HUB}, size: {HUGE}}}"], "'source.size'"),
    ({}, ["added: 2001-13-45"], "'added'"),
    ({}, [f"? {HUGE}", ": 1"], "'99999"),
    ({}, ["1: one", "null: none", "2.5: two and a half"], "is not a catalogue field"),
    ({"resolution": None}, ["resolution: !!int"], "'resolution'"),
    ({"resolution": None}, ["resolution: !!int abc"], "'resolution'"),
    ({"resolution": None}, ["resolution: !!bool maybe"], "'resolution'"),
    ({"description": None}, ["description: !!binary aGVsbG8="], "'description'"),
    ({"description": None}, ["description: &loop [*loop]"], "'description'"),
    ({}, ["notes: {a: 1}"], "'notes'"),
]


def assert_only_the_broken_entry_is_ignored(path, catalogue, messages, field):
    assert "fine-model" in catalogue.entries and "broken-model" not in catalogue.entries
    assert "stylegan2-car" in catalogue.entries
    assert len(messages) == 1, messages
    message = messages[0]
    assert "\n" not in message and len(message) < 400
    assert message.startswith(f"{display_path(path)}:{line_of(path, '  - name: broken-model')}: ")
    assert "'broken-model'" in message
    assert field in message
    assert message.endswith("; entry ignored")


@pytest.mark.parametrize(("change", "field"), BAD_ENTRIES)
def test_a_bad_entry_is_one_warning_naming_file_line_entry_and_field(user_file, change, field):
    path = user_file(catalogue_text(entry_yaml("fine-model"), entry_yaml("broken-model", **change)))
    catalogue, messages = load_with_warnings()
    assert_only_the_broken_entry_is_ignored(path, catalogue, messages, field)


@pytest.mark.parametrize(("change", "lines", "field"), RAW_BAD_FIELDS)
def test_values_yaml_cannot_make_or_python_cannot_convert_are_bad_fields(user_file, change, lines, field):
    path = user_file(catalogue_text(raw_entry("broken-model", *lines, **change), entry_yaml("fine-model")))
    catalogue, messages = load_with_warnings()
    assert_only_the_broken_entry_is_ignored(path, catalogue, messages, field)


def test_dates_and_long_numbers_in_text_fields_stay_text(user_file):
    sexagesimal = "1" + ":00" * 50_000
    user_file(catalogue_text(raw_entry("dated", "description: 2001-13-45", f"notes: {sexagesimal}",
                                       description=None)))
    catalogue, messages = load_with_warnings()
    assert messages == []
    entry = catalogue.get("dated")
    assert (entry.description, entry.notes) == ("2001-13-45", sexagesimal)


def test_a_name_must_be_one_clean_line(user_file):
    path = user_file(catalogue_text(entry_yaml("fine-model"), entry_yaml("broken-model\n")))
    catalogue, messages = load_with_warnings()
    assert list(catalogue.entries)[-1] == "fine-model"
    assert len(messages) == 1 and "field 'name' must be lowercase letters" in messages[0]
    line = line_of(path, "  - name: 'broken-model")
    assert messages[0].startswith(f"{display_path(path)}:{line}: ")


@pytest.mark.parametrize("name", ["&loop [*loop]", "[[[[[[[[[[x]]]]]]]]]]", "7", ALIAS_BOMB])
def test_an_entry_whose_name_is_not_text(user_file, name):
    user_file(catalogue_text(entry_yaml("x").replace("- name: x\n", f"- name: {name}\n"), entry_yaml("fine-model")))
    catalogue, messages = load_with_warnings()
    assert "fine-model" in catalogue.entries
    assert len(messages) == 1 and "entry without a name: field 'name' is required" in messages[0]


def test_entry_that_is_not_a_mapping(user_file):
    user_file(catalogue_text(entry_yaml("fine-model"), "- just-a-name\n"))
    catalogue, messages = load_with_warnings()
    assert "fine-model" in catalogue.entries
    assert len(messages) == 1
    assert re.fullmatch(r".*zoo\.yaml:\d+: every entry must be a mapping; entry ignored", messages[0])


def test_merged_fields_are_not_given_twice(user_file):
    text = catalogue_text(entry_yaml("base-model"))
    text = text.replace("  - name: base-model", "  - &base\n    name: base-model")
    user_file(text + "  - <<: *base\n    name: derived-model\n    resolution: 512\n    num_layers: 16\n")
    catalogue, messages = load_with_warnings()
    assert messages == []
    derived = catalogue.get("derived-model")
    assert (derived.resolution, derived.num_layers, derived.license) == (512, 16, "mit")


@pytest.mark.parametrize(("extra", "field"), [("    resolution: 512\n", "resolution"),
                                             ("      revision: main\n", "source.revision")])
def test_a_field_given_twice_is_a_bad_entry(user_file, extra, field):
    lines = catalogue_text(entry_yaml("twice"), entry_yaml("fine-model")).splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("      repo_id"))
    at = at if field.startswith("source") else lines.index("  - name: fine-model\n")
    user_file("".join(lines[:at] + [extra] + lines[at:]))
    catalogue, messages = load_with_warnings()
    assert "twice" not in catalogue.entries and "fine-model" in catalogue.entries
    assert len(messages) == 1
    assert re.search(rf"zoo\.yaml:2: entry 'twice': field '{field}' is given twice; entry ignored$", messages[0])


def test_a_repeated_name_in_one_file_keeps_the_first(user_file):
    path = user_file(catalogue_text(entry_yaml("twin", description="first"), entry_yaml("other"),
                                    entry_yaml("twin", description="second")))
    lines = [i + 1 for i, line in enumerate(path.read_text().splitlines()) if line == "  - name: twin"]
    catalogue, messages = load_with_warnings()
    assert catalogue.get("twin").description == "first" and "other" in catalogue.entries
    assert len(messages) == 1
    assert re.search(rf"zoo\.yaml:{lines[1]}: entry 'twin': field 'name' repeats the entry at line {lines[0]}",
                     messages[0])


BAD_FILES = [
    ("just text\n", "must be a list of entries or a mapping with the key 'models'"),
    ("models: {}\n", "'models' must be a list"),
    ("model:\n  - name: x\n", "unknown top-level key 'model'"),
    ("models:\n  - name: [unclosed\n    layout: x\n", "zoo.yaml:3: YAML syntax error"),
    ("models:\n  - !!python/object:os.system x\n", "YAML"),
    ("[" * 5000 + "]" * 5000, "YAML"),
    (f"{HUGE}\n", "must be a list of entries"),
    ("2001-13-45\n", "must be a list of entries"),
]


@pytest.mark.parametrize(("text", "problem"), BAD_FILES)
def test_a_bad_file_is_one_warning_and_the_rest_works(user_file, tmp_path, monkeypatch, text, problem):
    other = tmp_path / "other.yaml"
    other.write_text(catalogue_text(entry_yaml("from-other")))
    monkeypatch.setenv("SEFA_ZOO_CATALOGUE", str(other))
    path = user_file(text)
    catalogue, messages = load_with_warnings()
    assert "stylegan2-car" in catalogue.entries and "from-other" in catalogue.entries
    assert len(messages) == 1
    assert messages[0].startswith(display_path(path))
    assert problem in messages[0] and messages[0].endswith("; file ignored")
    assert "\n" not in messages[0] and len(messages[0]) < 400


def test_parse_catalogue_is_strict(tmp_path):
    text = catalogue_text(entry_yaml("fine-model"), entry_yaml("broken-model", resolution=0))
    with pytest.raises(CatalogueError, match=r"^cat\.yaml:\d+: entry 'broken-model': field 'resolution'"):
        parse_catalogue(text, "cat.yaml", "a test")
    with pytest.raises(CatalogueError, match=r"^cat\.yaml:\d+: YAML syntax error"):
        parse_catalogue("models:\n  - [unclosed\n", "cat.yaml", "a test")


def test_parse_catalogue_can_collect_the_bad_entries(tmp_path):
    text = catalogue_text(entry_yaml("fine-model"), entry_yaml("broken-model", resolution=0))
    problems = []
    entries = parse_catalogue(text, "cat.yaml", "a test", problems=problems)
    assert [entry.name for entry in entries] == ["fine-model"]
    assert [type(problem) for problem in problems] == [CatalogueError]
    assert "'broken-model': field 'resolution'" in str(problems[0])


@pytest.mark.parametrize("text", ["# nothing yet\n", "models:\n", "models: []\n"])
def test_empty_user_file_adds_nothing(config_dir, user_file, text):
    builtin = load_catalogue().entries
    user_file(text)
    catalogue, messages = load_with_warnings()
    assert catalogue.entries == builtin
    assert catalogue.notices == [] and messages == []


def test_a_bare_list_of_entries_is_a_catalogue_too(user_file):
    path = user_file(entry_yaml("fine-model") + entry_yaml("broken-model", resolution=0))
    catalogue, messages = load_with_warnings()
    assert list(catalogue.entries)[-1] == "fine-model"
    assert len(messages) == 1
    assert f"zoo.yaml:{line_of(path, '- name: broken-model')}: entry 'broken-model': field 'resolution'" in messages[0]


def test_non_utf8_file(user_file):
    user_file("").write_bytes(b"models:\n  - name: \xff\xfe\n")
    catalogue, messages = load_with_warnings()
    assert "stylegan2-car" in catalogue.entries
    assert len(messages) == 1 and "not a UTF-8 text file; file ignored" in messages[0]


# --- user files and overrides -------------------------------------------------------------


def test_user_file_adds_and_overrides_with_a_notice(user_file):
    builtin = get_entry("stylegan2-car")
    place = list(load_catalogue().entries).index("stylegan2-car")
    user_file(catalogue_text(entry_yaml("stylegan2-car", resolution=1024, num_layers=18), entry_yaml("mine")))
    catalogue = load_catalogue()
    car = catalogue.get("stylegan2-car")
    assert car.resolution == 1024 and car != builtin
    assert car.origin.startswith("user catalogue ") and car.origin.endswith("zoo.yaml")
    assert list(catalogue.entries)[-1] == "mine"
    # an override keeps the overridden entry's place in the order
    assert list(catalogue.entries).index("stylegan2-car") == place
    assert catalogue.notices == [f"{car.origin} overrides 'stylegan2-car' from the built-in catalogue"]


def test_environment_files_come_after_the_config_file(user_file, tmp_path, monkeypatch):
    user_file(catalogue_text(entry_yaml("mine", description="from the config dir")))
    first = tmp_path / "a.yaml"
    first.write_text(catalogue_text(entry_yaml("mine", description="from a.yaml")))
    second = tmp_path / "b.yaml"
    second.write_text(catalogue_text(entry_yaml("mine", description="from b.yaml"), entry_yaml("extra")))
    monkeypatch.setenv("SEFA_ZOO_CATALOGUE", os.pathsep.join([str(first), "", str(second)]))
    catalogue = load_catalogue()
    assert catalogue.get("mine").description == "from b.yaml"
    assert "extra" in catalogue.entries
    assert len(catalogue.notices) == 2
    first_label = f"catalogue {display_path(first)} (from SEFA_ZOO_CATALOGUE)"
    assert catalogue.notices[0].startswith(f"{first_label} overrides 'mine' from user catalogue ")
    assert catalogue.notices[1] == (f"catalogue {display_path(second)} (from SEFA_ZOO_CATALOGUE) "
                                    f"overrides 'mine' from {first_label}")


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_an_environment_file_that_is_not_a_file_is_a_warning(config_dir, tmp_path, monkeypatch, kind):
    missing = tmp_path / "nope.yaml"
    if kind == "folder":
        missing.mkdir()
    present = tmp_path / "present.yaml"
    present.write_text(catalogue_text(entry_yaml("present")))
    monkeypatch.setenv("SEFA_ZOO_CATALOGUE", os.pathsep.join([str(missing), str(present)]))
    catalogue, messages = load_with_warnings()
    assert "present" in catalogue.entries and "stylegan2-car" in catalogue.entries
    assert messages == [f"SEFA_ZOO_CATALOGUE names {display_path(missing)}, which is not a file; ignored"]


def test_relative_local_path_is_relative_to_its_catalogue_file(tmp_path, config_dir, monkeypatch):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    catalogue_file = folder / "cat.yaml"
    local = entry_yaml("local-model", source={"kind": "local", "path": "weights/g.pt"})
    catalogue_file.write_text(catalogue_text(local))
    monkeypatch.setenv("SEFA_ZOO_CATALOGUE", str(catalogue_file))
    source = get_entry("local-model").source
    assert isinstance(source, LocalSource)
    assert Path(source.path) == folder / "weights" / "g.pt"


# --- plugins -------------------------------------------------------------------------------


class CataloguePlugin:
    def __init__(self, *entries):
        self.entries = entries

    @hookimpl
    def register_catalogue_entries(self, register):
        for entry in self.entries:
            register(entry)


def plugin_entry(name, **overrides):
    return yaml.safe_load(entry_yaml(name, **overrides))[0]


def test_plugin_entries_come_after_the_builtin_ones(config_dir, register_plugin):
    as_object = CatalogueEntry.from_dict(plugin_entry("plugin-object"))
    register_plugin(CataloguePlugin(plugin_entry("plugin-dict"), as_object), "toy-catalogue")
    catalogue = load_catalogue()
    names = list(catalogue.entries)
    assert names[-2:] == ["plugin-dict", "plugin-object"]
    for name in names[-2:]:
        assert "toy-catalogue" in catalogue.get(name).origin
    assert catalogue.notices == []


def test_plugin_override_and_user_override_of_a_plugin_entry(user_file, register_plugin):
    register_plugin(CataloguePlugin(plugin_entry("stylegan2-cat", description="plugin cat"),
                                    plugin_entry("plugin-model")), "toy-catalogue")
    user_file(catalogue_text(entry_yaml("plugin-model", description="mine now")))
    catalogue = load_catalogue()
    assert catalogue.get("stylegan2-cat").description == "plugin cat"
    assert catalogue.get("plugin-model").description == "mine now"
    assert len(catalogue.notices) == 2
    assert "toy-catalogue" in catalogue.notices[0]
    assert catalogue.notices[0].endswith("overrides 'stylegan2-cat' from the built-in catalogue")
    assert catalogue.notices[1].startswith("user catalogue ")
    assert "overrides 'plugin-model' from plugin 'toy-catalogue'" in catalogue.notices[1]


class SourceKindPlugin:
    @hookimpl
    def register_checkpoint_sources(self, register):
        register("bucket", lambda source, *, progress=True: Path("/nonexistent"))


def test_plugin_source_kinds_are_accepted_in_user_files(user_file, register_plugin):
    bucket = {"kind": "bucket", "bucket": "models", "key": "g.pt", "sha256": None}
    user_file(catalogue_text(entry_yaml("in-a-bucket", source=bucket)))
    catalogue, messages = load_with_warnings()
    assert "in-a-bucket" not in catalogue.entries
    assert len(messages) == 1 and "'source.kind' must be one of" in messages[0]
    register_plugin(SourceKindPlugin(), "bucket-plugin")
    source = get_entry("in-a-bucket").source
    assert source.to_dict() == {"kind": "bucket", "bucket": "models", "key": "g.pt"}


BAD_PLUGIN_FIELDS = [
    "bucket: !!binary aGVsbG8=",
    "bucket: !!set {a, b}",
    "bucket: {!!binary aGVsbG8=: 1}",
    "bucket: {1: one}",
    "bucket: &loop [*loop]",
    "bucket: &loop {inner: *loop}",
    "bucket: " + "[" * 40 + "]" * 40,
    "bucket: " + ALIAS_BOMB,
    "bucket: .nan",
]


@pytest.mark.parametrize("field", BAD_PLUGIN_FIELDS)
def test_plugin_source_fields_must_be_small_plain_data(user_file, register_plugin, field):
    register_plugin(SourceKindPlugin(), "bucket-plugin")
    path = user_file(catalogue_text(raw_entry("broken-model", f"source: {{kind: bucket, key: g.pt, {field}}}",
                                              source=None), entry_yaml("fine-model")))
    catalogue, messages = load_with_warnings()
    assert_only_the_broken_entry_is_ignored(path, catalogue, messages, "'source.bucket'")


def test_plugin_entries_with_unprintable_source_fields_are_refused(config_dir, register_plugin):
    looped = []
    looped.append(looped)
    sources = {"looped": {"kind": "bucket", "key": looped}, "huge": {"kind": "bucket", "key": 10**5000},
               "huge-size": {"kind": "bucket", "key": "k", "size": 10**5000}}
    bad = [{**plugin_entry(name), "source": source} for name, source in sources.items()]
    register_plugin(SourceKindPlugin(), "bucket-plugin")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        register_plugin(CataloguePlugin(*bad, plugin_entry("fine-model")), "bad-entries")
        catalogue = load_catalogue()
    assert "fine-model" in catalogue.entries
    assert not {"looped", "huge", "huge-size"} & set(catalogue.entries)
    messages = [str(w.message) for w in caught]
    assert sum("'source.key'" in m for m in messages) == 2 and sum("'source.size'" in m for m in messages) == 1
    assert all(len(m) < 400 for m in messages)


# --- lookups -------------------------------------------------------------------------------


def test_unknown_name_suggests_the_closest(config_dir):
    with pytest.raises(UnknownModelError, match=r"unknown model 'stylegan2-cars' \(did you mean stylegan2-car"):
        get_entry("stylegan2-cars")
    with pytest.raises(UnknownModelError, match=r"unknown model 'qwerty' \(see `sefa-zoo list`\)"):
        get_entry("qwerty")


def test_find_by_glob_substring_and_architecture(user_file):
    user_file(catalogue_text(entry_yaml("toy-one", architecture="toyarch"), entry_yaml("toy-two")))
    assert [e.name for e in find_entries("stylegan2-c*")] == [
        "stylegan2-car", "stylegan2-cat", "stylegan2-church", "stylegan2-car-tf", "stylegan2-cat-tf",
        "stylegan2-church-tf", "stylegan2-car-tf-draggan"]
    assert [e.name for e in find_entries("stylegan2-c*-tf")] == ["stylegan2-car-tf", "stylegan2-cat-tf", "stylegan2-church-tf"]
    assert {e.name for e in find_entries("AFHQ")} >= {"stylegan2ada-afhqcat", "stylegan2-afhqcat512"}
    assert all("afhq" in e.name for e in find_entries("afhq"))
    assert [e.name for e in find_entries(architecture="toyarch")] == ["toy-one"]
    assert [e.name for e in find_entries("toy-*", architecture="stylegan2")] == ["toy-two"]
    assert find_entries("no-such-thing") == []
    assert len(find_entries()) == len(load_catalogue().entries)
