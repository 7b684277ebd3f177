"""The demo's scripted conversations (supportgraph/demo/scenarios.jsonl) on the offline path."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from evals.datasets import DatasetError
from evals.scenarios import agent_factory, load_scenarios, run_scenario, summarise
from supportgraph.runtime import DEMO_DIR, SupportRuntime

DEMO_SCENARIOS = DEMO_DIR / "scenarios.jsonl"


def test_demo_scenarios_all_pass(demo_runtime: SupportRuntime) -> None:
    scenarios = load_scenarios(DEMO_SCENARIOS)
    tags = Counter(tag for s in scenarios for tag in s.tags)
    assert len(scenarios) >= 32
    assert tags["french"] >= 6 and tags["injection"] >= 2 and tags["ownership"] >= 3
    # the offline path: the intent classifier and the slot extractor, no chat model; the
    # runtime's own shop knows no items (a fresh data directory): each scenario's agent
    # must look item names up in the shop it plays on
    offline = SimpleNamespace(settings=demo_runtime.settings, bot=demo_runtime.bot,
                              context=replace(demo_runtime.context, chat_model=None,
                                              order_items=lambda _customer, _orders: {}))
    make = agent_factory(offline)
    results = [run_scenario(scenario, make) for scenario in scenarios]
    report = summarise(results, scenarios)
    failing = [f"{r.name}: {r.failures[0]}" for r in results if not r.passed]
    assert not failing, f"{len(failing)}/{len(results)} scenarios failed:\n" + "\n".join(failing)
    assert report["unauthorized_side_effects"] == 0
    assert report["passed"] == len(scenarios)


def _line(**overrides: object) -> str:
    scenario = {"name": "ok", "identity": {"customer_id": "cus_001"},
                "turns": ["Where is my order CL-100117?"], "tags": ["status"]}
    return json.dumps(scenario | overrides)


@pytest.mark.parametrize(("bad", "field"), [
    ({"turns": []}, "turns"),
    ({"turns": "refund CL-100101"}, "turns"),
    ({"identity": {"id": "cus_001"}}, "identity"),
    ({"expected_tool_calls": [{"args": {}}]}, "expected_tool_calls"),
    ({"expected_end_state": {"balance": 0}}, "expected_end_state"),
    ({"name": "ok"}, "name"),  # a duplicate of line 1
])
def test_load_scenarios_names_file_line_and_field(tmp_path: Path, bad: dict[str, object],
                                                  field: str) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(_line() + "\n" + _line(**{"name": "second"} | bad) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_scenarios(path)
    assert f"x.jsonl:2: field '{field}'" in str(info.value)
    assert (info.value.line, info.value.field) == (2, field)


def test_load_scenarios_accepts_the_documented_format(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(_line() + "\n\n" + _line(name="anonymous", identity=None) + "\n",
                    encoding="utf-8")
    scenarios = load_scenarios(path)
    assert [(s.name, s.line, s.identity) for s in scenarios] == [
        ("ok", 1, {"customer_id": "cus_001"}), ("anonymous", 3, None)]
