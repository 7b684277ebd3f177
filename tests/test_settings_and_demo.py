"""Settings come from SUPPORTGRAPH_ variables and a YAML bot config; the demo prepares
itself idempotently (help centre synced, shop seeded once)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from supportgraph.cli import ensure_demo
from supportgraph.runtime import SupportRuntime
from supportgraph.settings import BotConfig, ConfigError, Settings
from tools.shop.models import Customer, Order


def test_settings_read_the_environment_prefix(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("SUPPORTGRAPH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SUPPORTGRAPH_TOP_K", "7")
    monkeypatch.setenv("SUPPORTGRAPH_SEARCH_MODE", "dense")
    settings = Settings()
    assert settings.data_dir == tmp_path and settings.top_k == 7
    assert settings.search_mode == "dense"
    assert settings.database_url_resolved == f"sqlite:///{tmp_path / 'supportgraph.db'}"
    assert settings.qdrant_path_resolved == tmp_path / "qdrant"


def test_default_data_dir_is_dot_supportgraph() -> None:
    assert Settings().data_dir == Path(".supportgraph")


def test_the_bot_config_yaml_is_loaded_and_validated(tmp_path: Path) -> None:
    good = tmp_path / "bot.yaml"
    good.write_text("name: Ava\ncompany: Acme\nlanguages: [en]\ndefault_language: en\n")
    bot = Settings(bot_config=good).load_bot_config()
    assert (bot.name, bot.company, bot.languages) == ("Ava", "Acme", ["en"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: invalid YAML"):
        BotConfig.from_yaml(bad)
    action = tmp_path / "action.yaml"
    action.write_text("intents:\n  - name: cancel\n    description: Cancel an order\n"
                      "    route: 'action:cancel_order'\n    examples: [cancel it]\n"
                      "    shows_order: true\n")
    with pytest.raises(ConfigError, match=r"action\.yaml: field 'intents\.0\.shows_order': "
                                          r".*only an intent with route 'answer'"):
        BotConfig.from_yaml(action)


def test_the_demo_prepares_itself_once(demo_runtime: SupportRuntime,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    ensure_demo(demo_runtime)
    ensure_demo(demo_runtime)
    out = capsys.readouterr().out
    assert "Knowledge base sync" in out
    assert "│     0 │       0 │       0 │        60 │" in out
    with Session(demo_runtime.engine) as session:
        customers = session.exec(select(func.count()).select_from(Customer)).one()
        orders = session.exec(select(func.count()).select_from(Order)).one()
    assert customers >= 20 and orders >= 60
    hashes = demo_runtime.knowledge.store.document_hashes()
    assert sum(1 for d in hashes if d.startswith("en/")) >= 20
    assert sum(1 for d in hashes if d.startswith("fr/")) >= 20
