"""The CLI contracts: one-line errors naming file, line and field; JSON outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import SUPPORTGRAPH_BIN
from supportgraph.cli import _conversation_settings, app
from supportgraph.runtime import DEMO_BOT_CONFIG, DEMO_MARKER

SMALL = Path(__file__).parent / "data" / "helpcenter_small"
runner = CliRunner()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    shutil.copytree(SMALL, root)
    return root


def _one_line_error(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error:")
    return lines[0]


def test_ingest_then_ask_prints_an_answer_with_its_source(tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "data"
    result = runner.invoke(app, ["ingest", str(corpus), "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert "Knowledge base sync" in result.output
    asked = runner.invoke(app, ["ask", "How much does the 28-pouch box cost?", "--json",
                                "--data-dir", str(data)])
    assert asked.exit_code == 0, asked.output
    turn = json.loads(asked.output)
    assert turn["answered"] and turn["citations"]
    assert turn["citations"][0]["source"].endswith(".jsonl") or turn["citations"][0]["title"]


def test_ingest_of_a_malformed_file_fails_with_one_line_and_changes_nothing(
        tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "data"
    assert runner.invoke(app, ["ingest", str(corpus), "--data-dir", str(data)]).exit_code == 0
    (corpus / "broken.jsonl").write_text('{"question": "ok?", "answer": "yes"}\n'
                                         '{"question": "missing answer"}\n')
    result = runner.invoke(app, ["ingest", str(corpus), "--sync", "--data-dir", str(data)])
    assert result.exit_code == 2
    line = _one_line_error(result.output)
    assert "broken.jsonl:2" in line and "'answer'" in line and "nothing was changed" in line
    (corpus / "broken.jsonl").unlink()
    again = runner.invoke(app, ["ingest", str(corpus), "--data-dir", str(data)])
    assert again.exit_code == 0
    assert "│     0 │       0 │       0 │" in again.output


def test_ask_on_an_empty_knowledge_base_says_what_to_do(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ask", "hello?", "--data-dir", str(tmp_path / "empty")])
    assert result.exit_code == 1
    assert "supportgraph ingest" in _one_line_error(result.output)


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_eval_retrieval_reports_the_contract_metrics(tmp_path: Path) -> None:
    corpus = _write_jsonl(tmp_path / "corpus.jsonl", [
        {"id": "ship", "title": "Shipping", "text": "Parcels ship within one business day and "
         "arrive in three to five days."},
        {"id": "refund", "title": "Refunds", "text": "Refunds reach your card within five "
         "business days after we receive the return."},
        {"id": "gift", "title": "Gift cards", "text": "Gift cards are valid for twelve months "
         "and cannot be exchanged for cash."},
    ])
    queries = _write_jsonl(tmp_path / "queries.jsonl", [
        {"query": "when will my money come back", "relevant_ids": ["refund"]},
        {"query": "how long until my package arrives", "relevant_ids": ["ship"]},
        {"query": "gift card expiry", "relevant_ids": ["gift"]},
    ])
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["eval", "retrieval", "--corpus", str(corpus), "--queries",
                                 str(queries), "--mode", "all", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    for key in ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "p50_latency_ms",
                "p95_latency_ms"):
        assert key in report
    assert report["recall@5"] == 1.0 and report["documents"] == 3
    assert set(report["modes"]) == {"hybrid", "dense", "sparse"}


@pytest.mark.parametrize(
    ("corpus_rows", "query_rows", "expected"),
    [
        ([{"id": "a", "text": "x"}], [{"query": "q", "relevant_ids": ["zzz"]}],
         "queries.jsonl:1: field 'relevant_ids': unknown document id 'zzz'"),
        ([{"id": "a"}], [{"query": "q", "relevant_ids": ["a"]}],
         "corpus.jsonl:1: field 'text'"),
        ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}],
         [{"query": "q", "relevant_ids": ["a"]}], "corpus.jsonl:2: field 'id': duplicate"),
        ([{"id": "a", "text": "x"}], [{"query": "q", "relevant_ids": []}],
         "queries.jsonl:1: field 'relevant_ids'"),
    ],
)
def test_eval_retrieval_names_the_bad_line_and_field(tmp_path: Path, corpus_rows: list,
                                                     query_rows: list, expected: str) -> None:
    corpus = _write_jsonl(tmp_path / "corpus.jsonl", corpus_rows)
    queries = _write_jsonl(tmp_path / "queries.jsonl", query_rows)
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["eval", "retrieval", "--corpus", str(corpus), "--queries",
                                 str(queries), "--json", str(out)])
    assert result.exit_code == 2
    assert expected in _one_line_error(result.output)
    assert not out.exists()


def test_a_bad_bot_config_is_reported_with_its_file(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text("name: Bot\nlanguages: fr\n")
    monkeypatch.setenv("SUPPORTGRAPH_BOT_CONFIG", str(config))
    result = runner.invoke(app, ["ask", "hi", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "bot.yaml: field 'languages'" in _one_line_error(result.output)


def test_chat_keeps_one_conversation_until_quit(tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "data"
    assert runner.invoke(app, ["ingest", str(corpus), "--data-dir", str(data)]).exit_code == 0
    result = runner.invoke(app, ["chat", "--data-dir", str(data)],
                           input="Hello\nDo you deliver to Belgium?\nquit\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("bot>") == 2
    assert "virtual assistant" in result.output


def test_documents_of_another_tenant_are_never_retrieved(tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "data"
    assert runner.invoke(app, ["ingest", str(corpus), "--tenant", "whisker",
                               "--data-dir", str(data)]).exit_code == 0
    other = runner.invoke(app, ["ask", "How much does the 28-pouch box cost?", "--json",
                                "--data-dir", str(data)])
    assert json.loads(other.output)["citations"] == []
    own = runner.invoke(app, ["ask", "How much does the 28-pouch box cost?", "--json",
                              "--data-dir", str(data)], env={"SUPPORTGRAPH_TENANT": "whisker"})
    assert json.loads(own.output)["citations"]


@pytest.mark.parametrize("command", [["ask", "where is my order?"],
                                     ["customer", "export", "cus_001"],
                                     ["customer", "delete", "cus_001", "--yes"]])
def test_an_unreachable_database_is_a_one_line_error_without_the_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    pytest.importorskip("psycopg")
    # Port 1 on the loopback refuses at once: a server that is down, or a wrong port.
    monkeypatch.setenv("SUPPORTGRAPH_DATABASE_URL",
                       "postgresql+psycopg://bot:s3cret-pw@127.0.0.1:1/support")
    result = runner.invoke(app, [*command, "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2
    line = _one_line_error(result.output)
    assert "127.0.0.1:1/support" in line and "cannot connect" in line
    assert "s3cret-pw" not in result.output


def test_ask_on_a_directory_the_demo_prepared_talks_to_the_demo_bot(
        prepared_demo_env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in prepared_demo_env.items() if k != "SUPPORTGRAPH_BOT_CONFIG"}
    data_dir = Path(env["SUPPORTGRAPH_DATA_DIR"])
    assert "supportgraph demo" in (data_dir / DEMO_MARKER).read_text()
    asked = subprocess.run([str(SUPPORTGRAPH_BIN), "ask", "where is my order?", "--json"],
                           env=env, capture_output=True, text=True, timeout=600)
    assert asked.returncode == 0, asked.stderr
    turn = json.loads(asked.stdout)
    # The demo bot's intents: an order question asks for the order number instead of
    # being searched for in the help centre alone (the bare default bot).
    assert turn["intent"]["label"] == "order_status"
    assert turn["intent"]["missing_slots"] == ["order_number"]
    assert "order number" in turn["reply"]
    # Only a directory the demo prepared: elsewhere the default bot, unless configured.
    assert _conversation_settings(data_dir).bot_config == DEMO_BOT_CONFIG
    assert _conversation_settings(tmp_path).bot_config is None
