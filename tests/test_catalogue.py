"""The catalogue: the shipped zoo.yaml, validation, user files, plugin entries, lookups."""

import math
import os
import re
import textwrap
from importlib.resources import files
from pathlib import Path

import pytest
import yaml

from sefa_zoo import CatalogueEntry, CatalogueError, UnknownModelError, hookimpl
from sefa_zoo.catalogue import display_path, find_entries, get_entry, load_catalogue
from sefa_zoo.sources import HubSource, LocalSource

REPO_ZOO = Path(__file__).resolve().parents[1] / "zoo.yaml"


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
    names = [item["name"] for item in yaml.safe_load(REPO_ZOO.read_text())["models"]]
    assert len(names) == len(set(names))


def test_shipped_entries_are_pinned_and_consistent(config_dir):
    for entry in load_catalogue().entries.values():
        if entry.origin != "the built-in catalogue":
            continue  # entries built-in plugins contribute (the demo model) are tested with them
        source = entry.source
        assert isinstance(source, HubSource), entry.name
        assert re.fullmatch(r"[0-9a-f]{40}", source.revision), entry.name
        assert source.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", source.sha256), entry.name
        assert entry.architecture == "stylegan2"
        assert entry.layout in ("rosinality", "nvidia"), entry.name
        assert entry.num_layers == 2 * int(math.log2(entry.resolution)) - 2, entry.name
        assert 2 ** int(math.log2(entry.resolution)) == entry.resolution, entry.name
        assert entry.z_dim == entry.w_dim == 512
        # every Hub copy here is a re-upload without a licence tag of the model's own
        assert entry.license.startswith("upstream terms"), entry.name
        assert entry.notes and "licence" in entry.notes, entry.name
        if entry.layout == "rosinality":
            assert source.filename.endswith(".pt"), entry.name
        else:
            assert source.filename.endswith(".pkl"), entry.name


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


# --- validation --------------------------------------------------------------------------


BAD_ENTRIES = [
    ({"license": None}, "'license'"),
    ({"source_sha256": "abc123"}, "'source.sha256'"),
    ({"source_revision": "main"}, "'source.revision'"),
    ({"source_revision": "0123456"}, "'source.revision'"),
    ({"resolutoin": 256}, "'resolutoin'"),
    ({"resolution": "big"}, "'resolution'"),
    ({"image_size": [512]}, "'image_size'"),
    ({"source_kind": "ftp"}, "'source.kind'"),
]


@pytest.mark.parametrize(("change", "field"), BAD_ENTRIES)
def test_bad_entry_names_file_line_entry_and_field(user_file, change, field):
    path = user_file(catalogue_text(entry_yaml("fine-model"), entry_yaml("broken-model", **change)))
    with pytest.raises(CatalogueError) as info:
        load_catalogue()
    message = str(info.value)
    assert "\n" not in message
    assert display_path(path) in message
    assert "'broken-model'" in message
    assert field in message
    second_entry_line = path.read_text().splitlines().index("  - name: broken-model") + 1
    assert f"zoo.yaml:{second_entry_line}:" in message


def test_entry_that_is_not_a_mapping(user_file):
    user_file(catalogue_text(entry_yaml("fine-model"), "- just-a-name\n"))
    with pytest.raises(CatalogueError, match=r"zoo\.yaml:\d+: every entry must be a mapping"):
        load_catalogue()


def test_yaml_syntax_error_names_file_and_line(user_file):
    text = catalogue_text(entry_yaml("fine-model")) + "  - name: [unclosed\n    layout: x\n"
    user_file(text)
    with pytest.raises(CatalogueError) as info:
        load_catalogue()
    assert re.search(r"zoo\.yaml:(\d+): YAML syntax error", str(info.value))
    line = int(re.search(r"zoo\.yaml:(\d+)", str(info.value)).group(1))
    assert line > len(catalogue_text(entry_yaml("fine-model")).splitlines())


@pytest.mark.parametrize(("extra", "field"), [("    resolution: 512\n", "resolution"),
                                             ("      revision: main\n", "source.revision")])
def test_a_field_given_twice_is_an_error(user_file, extra, field):
    lines = catalogue_text(entry_yaml("twice")).splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("      repo_id"))
    at = at if field.startswith("source") else len(lines)
    user_file("".join(lines[:at] + [extra] + lines[at:]))
    with pytest.raises(CatalogueError, match=rf"zoo\.yaml:2: entry 'twice': field '{field}' is given twice"):
        load_catalogue()


def test_duplicate_names_in_one_file_are_an_error(user_file):
    path = user_file(catalogue_text(entry_yaml("twin"), entry_yaml("other"), entry_yaml("twin")))
    lines = [i + 1 for i, line in enumerate(path.read_text().splitlines()) if line == "  - name: twin"]
    with pytest.raises(CatalogueError, match=rf"zoo\.yaml:{lines[1]}: entry 'twin': field 'name' "
                                             rf"repeats the entry at line {lines[0]}"):
        load_catalogue()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("just text\n", "must be a list of entries or a mapping with the key 'models'"),
        ("models: {}\n", "'models' must be a list"),
        ("model:\n  - name: x\n", "unknown top-level key 'model'"),
    ],
)
def test_bad_file_shape(user_file, text, problem):
    user_file(text)
    with pytest.raises(CatalogueError, match=re.escape(problem)):
        load_catalogue()


@pytest.mark.parametrize("text", ["# nothing yet\n", "models:\n", "models: []\n"])
def test_empty_user_file_adds_nothing(config_dir, user_file, text):
    builtin = load_catalogue().entries
    user_file(text)
    catalogue = load_catalogue()
    assert catalogue.entries == builtin
    assert catalogue.notices == []


def test_a_bare_list_of_entries_is_a_catalogue_too(user_file):
    path = user_file(entry_yaml("fine-model") + entry_yaml("broken-model", resolution=0))
    with pytest.raises(CatalogueError, match=r"zoo\.yaml:(\d+): entry 'broken-model': field 'resolution'") as info:
        load_catalogue()
    line = path.read_text().splitlines().index("- name: broken-model") + 1
    assert f"zoo.yaml:{line}:" in str(info.value)
    user_file(entry_yaml("fine-model"))
    assert list(load_catalogue().entries)[-1] == "fine-model"


def test_non_utf8_file(user_file):
    user_file("").write_bytes(b"models:\n  - name: \xff\xfe\n")
    with pytest.raises(CatalogueError, match="not a UTF-8 text file"):
        load_catalogue()


# --- user files and overrides -------------------------------------------------------------


def test_user_file_adds_and_overrides_with_a_notice(user_file):
    builtin = get_entry("stylegan2-car")
    user_file(catalogue_text(entry_yaml("stylegan2-car", resolution=1024, num_layers=18), entry_yaml("mine")))
    catalogue = load_catalogue()
    car = catalogue.get("stylegan2-car")
    assert car.resolution == 1024 and car != builtin
    assert car.origin.startswith("user catalogue ") and car.origin.endswith("zoo.yaml")
    assert list(catalogue.entries)[-1] == "mine"
    # an override keeps the overridden entry's place in the order
    assert list(catalogue.entries).index("stylegan2-car") == 0
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


def test_environment_file_that_does_not_exist(config_dir, tmp_path, monkeypatch):
    missing = tmp_path / "nope.yaml"
    monkeypatch.setenv("SEFA_ZOO_CATALOGUE", str(missing))
    with pytest.raises(CatalogueError, match=f"SEFA_ZOO_CATALOGUE names {re.escape(display_path(missing))}"):
        load_catalogue()


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
    with pytest.raises(CatalogueError, match="'source.kind' must be one of"):
        load_catalogue()
    register_plugin(SourceKindPlugin(), "bucket-plugin")
    source = get_entry("in-a-bucket").source
    assert source.to_dict() == {"kind": "bucket", "bucket": "models", "key": "g.pt"}


# --- lookups -------------------------------------------------------------------------------


def test_unknown_name_suggests_the_closest(config_dir):
    with pytest.raises(UnknownModelError, match=r"unknown model 'stylegan2-cars' \(did you mean stylegan2-car"):
        get_entry("stylegan2-cars")
    with pytest.raises(UnknownModelError, match=r"unknown model 'qwerty' \(see `sefa-zoo list`\)"):
        get_entry("qwerty")


def test_find_by_glob_substring_and_architecture(user_file):
    user_file(catalogue_text(entry_yaml("toy-one", architecture="toyarch"), entry_yaml("toy-two")))
    assert [e.name for e in find_entries("stylegan2-c*")] == ["stylegan2-car", "stylegan2-cat", "stylegan2-church"]
    assert {e.name for e in find_entries("AFHQ")} >= {"stylegan2ada-afhqcat", "stylegan2-afhqcat512"}
    assert all("afhq" in e.name for e in find_entries("afhq"))
    assert [e.name for e in find_entries(architecture="toyarch")] == ["toy-one"]
    assert [e.name for e in find_entries("toy-*", architecture="stylegan2")] == ["toy-two"]
    assert find_entries("no-such-thing") == []
    assert len(find_entries()) == len(load_catalogue().entries)
