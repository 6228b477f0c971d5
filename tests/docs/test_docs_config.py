"""The operations guide's config examples are what the server loads: every TOML block of docs/operations.md,
written to a file, loads with the server's own loader (server.settings.load_settings, as `--config` does);
"the complete file with the defaults" says the code's defaults, and it (with the [ops] block the guide shows
on its own) names every key the server takes, so a key added to the code and not to the guide fails here."""
import dataclasses
import tomllib

import pytest

from tests.docs.docs_pages import blocks, section
from server.settings import Secret, load_settings

GUIDE = "docs/operations.md"


@pytest.fixture(autouse=True)
def no_environment(monkeypatch):
    monkeypatch.delenv("SCANPAY_CONFIG", raising=False)
    monkeypatch.delenv("SCANPAY_DB", raising=False)


def complete_file():
    """The first TOML block of "Configuration": the one after "A complete file with the defaults"."""
    return [t.content for t in section(GUIDE, "Configuration") if t.type == "fence" and t.info.strip() == "toml"][0]


def test_every_toml_block_loads_from_a_file(tmp_path):
    toml_blocks = blocks(GUIDE, "toml")
    assert len(toml_blocks) >= 3
    for n, text in enumerate(toml_blocks):
        path = tmp_path / f"block{n}.toml"
        path.write_text(text, "utf-8")
        load_settings(path)          # raises SettingsError, naming the key, on anything the server refuses


def test_the_complete_file_says_the_defaults(tmp_path):
    path = tmp_path / "scanpay.toml"
    path.write_text(complete_file(), "utf-8")
    documented, defaults = load_settings(path), load_settings()
    differences = [where for (where, a), (_, b) in zip(_settings(documented), _settings(defaults)) if a != b]
    assert not differences, f"docs/operations.md's complete file differs from the code's defaults at {differences}"
    assert documented == defaults


def test_the_complete_file_names_every_key():
    tables = [tomllib.loads(text) for text in blocks(GUIDE, "toml")]
    complete = tomllib.loads(complete_file())
    assert {"alipay", "unionpay"} <= set(complete["channels"]) and "notify_url" in complete["channels"]["wechat"]
    missing = [where for where, _ in _settings(load_settings()) if not any(_has(table, where) for table in tables)]
    assert not missing, f"docs/operations.md names no value for {missing}"


def _has(table, where):
    for part in where.split("."):
        if not isinstance(table, dict) or part not in table:
            return False
        table = table[part]
    return True


def _settings(settings, where=""):
    """(key, value) for every setting of a Settings, its tables walked down to the values ("server.port");
    a Secret is a value. Two Settings are walked in the same order, key for key."""
    if dataclasses.is_dataclass(settings) and not isinstance(settings, Secret):
        for f in dataclasses.fields(settings):
            yield from _settings(getattr(settings, f.name), f"{where}.{f.name}" if where else f.name)
    else:
        yield where, settings
