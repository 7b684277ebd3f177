"""The `supportgraph` command line (Typer)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

app = typer.Typer(help="supportgraph: a multi-agent customer support framework.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
eval_app = typer.Typer(help="Evaluate intent, retrieval, RAG, scenarios and guard.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="eval")

console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="Data directory (default ./.supportgraph or SUPPORTGRAPH_DATA_DIR).")]


def fail(message: str, code: int = 2) -> None:
    """One line on stderr naming what is wrong, then a non-zero exit."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings(data_dir: Path | None = None, **overrides: Any) -> Any:
    from pydantic import ValidationError

    from supportgraph.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        fail(f"environment variable SUPPORTGRAPH_{str(err['loc'][0]).upper()}: {err['msg']}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        changes["data_dir"] = data_dir
    return settings.with_overrides(**changes)


def progress_bar() -> Progress:
    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=err_console,
                    transient=True, disable=not sys.stderr.isatty())


def _tracked(progress: Progress) -> Any:
    tasks: dict[str, Any] = {}

    def update(label: str, done: int, total: int) -> None:
        if label not in tasks:
            tasks[label] = progress.add_task(label, total=total)
        progress.update(tasks[label], completed=done, total=total)

    return update


def open_knowledge(settings: Any) -> Any:
    from supportgraph.runtime import KnowledgeServices

    return KnowledgeServices.build(settings, settings.load_bot_config())


def print_ingest_summary(report: Any) -> None:
    table = Table(title="Knowledge base sync")
    for col in ("added", "updated", "removed", "unchanged", "chunks written", "flagged",
                "seconds"):
        table.add_column(col, justify="right")
    s = report.summary()
    table.add_row(str(s["added"]), str(s["updated"]), str(s["removed"]), str(s["unchanged"]),
                  str(s["chunks_written"]), str(s.get("flagged", 0)), f"{s['seconds']:.2f}")
    console.print(table)
    for doc_id, reasons in sorted(getattr(report, "flagged", {}).items()):
        console.print(f"[yellow]flagged[/] {doc_id}: instruction-like text for an AI "
                      f"({', '.join(reasons)}); ingested, retrieval removes those sentences; "
                      "please review", highlight=False)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    sync: Annotated[bool, typer.Option("--sync", help="Also remove documents no longer "
                                       "present under PATHS.")] = False,
    tenant: Annotated[str | None, typer.Option(help="Tenant the documents belong to "
                                               "(default SUPPORTGRAPH_TENANT or 'default').")]
    = None,
    base_url: Annotated[str | None, typer.Option(help="Public URL prefix: citations link to "
                                                 "BASE_URL/<path relative to PATH>.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Ingest Markdown, HTML, text, PDF and FAQ (JSONL/CSV) files; only changes are embedded.

    With --sync the tenant's knowledge base becomes exactly PATHS: documents that are no
    longer there are removed.
    """
    from knowledge.documents import IngestError
    from supportgraph.settings import ConfigError

    settings = load_settings(data_dir, tenant=tenant)
    try:
        kb = open_knowledge(settings)
    except ConfigError as exc:
        fail(str(exc))
    try:
        with progress_bar() as progress:
            report = kb.ingestor.ingest_paths(paths, delete_missing=sync,
                                              progress=_tracked(progress), base_url=base_url)
    except IngestError as exc:
        fail(f"{exc} (nothing was changed)")
    finally:
        kb.close()
    print_ingest_summary(report)


def _conversation_settings(data_dir: Path | None) -> Any:
    """Settings for `ask` and `chat`: the demo bot on a data directory `supportgraph demo`
    prepared (its help centre is there, and without the bot's intents an order question
    would only be searched for), unless a bot config is set."""
    from supportgraph.runtime import DEMO_BOT_CONFIG, DEMO_MARKER

    settings = load_settings(data_dir)
    if settings.bot_config is None and (settings.data_dir / DEMO_MARKER).is_file():
        settings = settings.with_overrides(bot_config=DEMO_BOT_CONFIG)
    return settings


def _open_runtime(settings: Any) -> Any:
    from supportgraph.runtime import SupportRuntime
    from supportgraph.settings import ConfigError

    try:
        return SupportRuntime(settings)
    except ConfigError as exc:
        fail(str(exc))


def print_turn(result: Any) -> None:
    console.print(result.reply, highlight=False, markup=False)
    for c in result.citations:
        section = f" — {c['section']}" if c.get("section") else ""
        console.print(f"  [dim][{c['index']}] {c['title']}{section} ({c['source']})[/]",
                      highlight=False)
    if result.quick_replies:
        console.print("  [dim]" + escape(" | ".join(q["text"] for q in result.quick_replies))
                      + "[/]", highlight=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The customer's question.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole turn as JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Answer one question from the knowledge base and print the citations."""
    runtime = _open_runtime(_conversation_settings(data_dir))
    try:
        if runtime.knowledge.store.count() == 0:
            fail("the knowledge base is empty: run 'supportgraph ingest PATH' or "
                 "'supportgraph demo' first", 1)
        result = runtime.agent.ask(question)
    finally:
        runtime.close()
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_turn(result)


@app.command()
def chat(
    conversation: Annotated[str | None, typer.Option(help="Resume this conversation id.")] = None,
    data_dir: DataDir = None,
) -> None:
    """An interactive conversation in the terminal (Ctrl-D or 'quit' to leave)."""
    runtime = _open_runtime(_conversation_settings(data_dir))
    conversation_id = conversation or runtime.agent.new_conversation_id()
    console.print(f"[dim]conversation {conversation_id} — type 'quit' to leave[/]")
    try:
        while True:
            try:
                text = console.input("[bold cyan]you>[/] ")
            except (EOFError, KeyboardInterrupt):
                break
            if text.strip().lower() in {"quit", "exit", ":q"}:
                break
            if not text.strip():
                continue
            result = runtime.agent.ask(text, conversation_id)
            console.print("[bold green]bot>[/] ", end="")
            print_turn(result)
    finally:
        runtime.close()


def ensure_demo(runtime: Any) -> None:
    """Ingest the bundled help centre (incrementally) and seed the demo shop once."""
    from sqlmodel import Session

    from supportgraph.runtime import DEMO_HELP_URL, DEMO_HELPCENTER, DEMO_MARKER
    from tools.shop.seed import seed_demo_shop

    with progress_bar() as progress:
        report = runtime.knowledge.ingestor.ingest_paths(
            [DEMO_HELPCENTER], delete_missing=True, progress=_tracked(progress),
            base_url=DEMO_HELP_URL)
    print_ingest_summary(report)
    with Session(runtime.engine) as session:
        seed_demo_shop(session)
        session.commit()
    marker = runtime.settings.data_dir / DEMO_MARKER
    if not marker.exists():
        marker.write_text("Prepared by 'supportgraph demo': 'supportgraph ask' and 'supportgraph "
                          "chat' on this directory use the demo bot unless "
                          "SUPPORTGRAPH_BOT_CONFIG names another.\n", encoding="utf-8")


def _serve(runtime: Any, host: str, port: int, help_dir: Path | None = None,
           demo: bool = False) -> None:
    import uvicorn

    from agents.pii import install_log_masking
    from channels.app import create_app

    console.print(f"supportgraph is listening on [bold]http://{host}:{port}/[/]")
    config = uvicorn.Config(create_app(runtime, help_dir=help_dir, demo=demo), host=host,
                            port=port, log_level="warning")
    server = uvicorn.Server(config)
    install_log_masking()
    server.run()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Serve the chat API and page on the configured knowledge base."""
    settings = load_settings(data_dir, host=host, port=port)
    runtime = _open_runtime(settings)
    try:
        _serve(runtime, settings.host, settings.port)
    finally:
        runtime.close()


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    data_dir: DataDir = None,
    prepare_only: Annotated[bool, typer.Option("--prepare-only", help="Ingest and seed, "
                                               "then exit without serving.")] = False,
) -> None:
    """Serve the bundled demo shop (help centre in English and French) with no configuration."""
    import secrets

    from supportgraph.runtime import DEMO_BOT_CONFIG

    settings = load_settings(data_dir, host=host, port=port)
    if settings.bot_config is None:
        settings = settings.with_overrides(bot_config=DEMO_BOT_CONFIG)
    if not settings.identity_secret:
        settings = settings.with_overrides(identity_secret=secrets.token_hex(16))
    if not settings.admin_api_key:
        settings = settings.with_overrides(admin_api_key=secrets.token_urlsafe(18))
        console.print(f"approvals API key for this demo run: [bold]{settings.admin_api_key}[/]")
    console.print("[dim]loading the embedding model and the intent classifier (the first run "
                  "trains it: about a minute)...[/]")
    runtime = _open_runtime(settings)
    try:
        ensure_demo(runtime)
        if not prepare_only:
            from supportgraph.runtime import DEMO_HELPCENTER

            _serve(runtime, settings.host, settings.port, help_dir=DEMO_HELPCENTER, demo=True)
    finally:
        runtime.close()


def _write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is None:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


@eval_app.command("retrieval")
def eval_retrieval(
    corpus: Annotated[Path, typer.Option(help="Corpus JSONL: {id, text, title?, metadata?}.")],
    queries: Annotated[Path, typer.Option(help="Queries JSONL: {query, relevant_ids}.")],
    k: Annotated[int, typer.Option(help="Cut-off for the extra recall@k.")] = 10,
    mode: Annotated[str, typer.Option(help="hybrid, dense, sparse, or all.")] = "hybrid",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
) -> None:
    """Ingest CORPUS into a fresh collection and score search on QUERIES."""
    import tempfile

    from evals.datasets import DatasetError
    from evals.retrieval import MODES, load_corpus, load_queries, run_retrieval_eval
    from knowledge.store import SearchMode

    modes: list[SearchMode] = list(MODES) if mode == "all" else [mode]  # type: ignore[list-item]
    if any(m not in MODES for m in modes):
        fail(f"--mode: expected one of hybrid, dense, sparse, all; got '{mode}'")
    if k < 1:
        fail("--k: must be at least 1")
    try:
        docs = load_corpus(corpus)
        load_queries(queries, {d.id for d in docs})
    except DatasetError as exc:
        fail(str(exc))
    with tempfile.TemporaryDirectory(prefix="sg-eval-") as tmp:
        settings = load_settings(Path(tmp), collection=f"eval_{os.getpid()}")
        kb = open_knowledge(settings)
        try:
            with progress_bar() as progress:
                result = run_retrieval_eval(kb.ingestor, kb.retriever, corpus, queries, k=k,
                                            modes=modes, progress=_tracked(progress))
        except DatasetError as exc:
            fail(str(exc))
        finally:
            drop = getattr(kb.store, "drop", None)
            if settings.qdrant_url and drop is not None:
                drop()
            kb.close()
    table = Table(title=f"Retrieval: {result['documents']} documents, {result['queries']} queries")
    cols = ["mode", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10",
            "p50_latency_ms", "p95_latency_ms"]
    for col in cols:
        table.add_column(col, justify="right")
    for row in result.get("modes", {modes[0]: result}).values():
        table.add_row(*(str(row[c]) if c == "mode" else f"{row[c]:.3f}" for c in cols))
    console.print(table)
    _write_json(json_out, result)


@eval_app.command("intent")
def eval_intent(
    train: Annotated[Path, typer.Option(help="Training CSV with a header (text, label).")],
    test: Annotated[Path, typer.Option(help="Test CSV with the same columns.")],
    text_col: Annotated[str, typer.Option(help="Column holding the utterance.")] = "text",
    label_col: Annotated[str, typer.Option(help="Column holding the intent.")] = "label",
    oos_label: Annotated[str, typer.Option(help="Label of out-of-scope utterances.")] = "oos",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
) -> None:
    """Train the intent classifier on TRAIN only and score it on TEST."""
    from evals.datasets import DatasetError
    from evals.intent import load_labelled_csv, run_intent_eval
    from knowledge.embeddings import make_embedder
    from supportgraph.runtime import intent_embedder, intent_encoders

    try:
        train_rows = load_labelled_csv(train, text_col, label_col)
        load_labelled_csv(test, text_col, label_col)
    except DatasetError as exc:
        fail(str(exc))
    if len({label for _, label in train_rows}) < 2:
        fail(f"{train}: column '{label_col}': needs examples of at least two labels")
    settings = load_settings()
    embedder = intent_embedder(settings, make_embedder(
        settings.embedding_model, batch_size=max(128, settings.embedding_batch_size)))
    with progress_bar() as progress:
        result = run_intent_eval(train, test, embedder, text_col=text_col,
                                 label_col=label_col, oos_label=oos_label,
                                 cache_dir=settings.data_dir / "intent_cache",
                                 encoders=intent_encoders(settings),
                                 progress=_tracked(progress))
    chosen = result["chosen"]
    table = Table(title=f"Intent: {result['n_intents']} intents, {result['n_train']} train, "
                        f"{result['n_test']} test utterances")
    cols = [c for c in ("accuracy", "macro_f1", "in_scope_accuracy", "oos_recall",
                        "oos_precision", "median_latency_ms", "train_seconds") if c in result]
    for col in cols:
        table.add_column(col, justify="right")
    table.add_row(*(f"{result[c]:.3f}" for c in cols))
    console.print(table)
    console.print(f"[dim]encoders {chosen.get('encoders', '?')}, head {chosen['head']} "
                  f"(tfidf weight {chosen['tfidf_weight']:g}, "
                  f"C {chosen['C']:g}, {chosen['folds']}-fold CV), OOS threshold "
                  f"{chosen['oos_threshold']:.3f}"
                  f"{' (cached model)' if chosen.get('from_cache') else ''}[/]",
                  highlight=False)
    _write_json(json_out, result)


@eval_app.command("guard")
def eval_guard(
    dataset: Annotated[Path, typer.Option(help="JSONL: {text, label} with label 1 = attack, "
                                          "0 = benign customer message.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the input guard (limits, patterns, classifier) on DATASET as a live turn does."""
    from agents.guard import check_message
    from evals.datasets import DatasetError
    from evals.guard import load_guard_dataset, run_guard_eval
    from knowledge.embeddings import make_embedder
    from supportgraph.runtime import make_injection_detector

    try:
        rows = load_guard_dataset(dataset)
    except DatasetError as exc:
        fail(str(exc))
    settings = load_settings(data_dir)
    embedder = make_embedder(settings.embedding_model, settings.embedding_batch_size)
    detector = make_injection_detector(settings, embedder)
    try:
        detector.prepare()
    except DatasetError as exc:
        fail(f"guard training set: {exc}")
    with progress_bar() as progress:
        result = run_guard_eval(rows, lambda text: check_message(
            text, settings.max_message_chars, detector), progress=_tracked(progress))
    if settings.guard_classifier:
        result["classifier"] = {**detector.classifier.chosen,
                                "threshold_used": detector.effective_threshold}
    table = Table(title=f"Input guard: {result['attacks']} attacks, {result['benign']} benign "
                        "messages")
    cols = ["precision", "recall", "f1", "false_positive_rate", "p50_latency_ms",
            "p95_latency_ms"]
    for col in cols:
        table.add_column(col, justify="right")
    table.add_row(*(f"{result[c]:.3f}" for c in cols))
    console.print(table)
    if settings.guard_classifier:
        chosen = result["classifier"]
        console.print(f"[dim]classifier: tfidf weight {chosen['tfidf_weight']:g}, C "
                      f"{chosen['C']:g}, threshold {chosen['threshold_used']:.3f}"
                      f"{' (cached model)' if chosen.get('from_cache') else ''}[/]",
                      highlight=False)
    _write_json(json_out, result)


@eval_app.command("scenarios")
def eval_scenarios(
    dataset: Annotated[Path, typer.Option(help="Scenarios JSONL (see evals/scenarios.py).")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run scripted multi-turn conversations, each on a freshly seeded demo shop."""
    from evals.datasets import DatasetError
    from evals.scenarios import agent_factory, load_scenarios, run_scenario, summarise
    from supportgraph.runtime import DEMO_BOT_CONFIG, DEMO_HELP_URL, DEMO_HELPCENTER

    try:
        scenarios = load_scenarios(dataset)
    except DatasetError as exc:
        fail(str(exc))
    settings = load_settings(data_dir)
    if settings.bot_config is None:
        settings = settings.with_overrides(bot_config=DEMO_BOT_CONFIG)
    runtime = _open_runtime(settings)
    try:
        if runtime.knowledge.store.count() == 0:
            runtime.knowledge.ingestor.ingest_paths([DEMO_HELPCENTER], base_url=DEMO_HELP_URL)
        make = agent_factory(runtime)
        results = []
        with progress_bar() as progress:
            task = progress.add_task("scenarios", total=len(scenarios))
            for scenario in scenarios:
                results.append(run_scenario(scenario, make))
                progress.advance(task)
    finally:
        runtime.close()
    report = summarise(results, scenarios)
    table = Table(title=f"Scenarios: {report['passed']}/{report['scenarios']} passed")
    for col in ("scenario", "result", "tool calls", "refusals", "first failure"):
        table.add_column(col)
    for row in report["results"]:
        table.add_row(row["name"], "[green]pass[/]" if row["passed"] else "[red]FAIL[/]",
                      ", ".join(c["tool"] for c in row["executed"]) or "-",
                      ", ".join(row["refusals"]) or "-",
                      (row["failures"] or [""])[0][:80])
    console.print(table)
    console.print(f"tool-call precision {report['tool_call_precision']:.3f}  recall "
                  f"{report['tool_call_recall']:.3f}  ragas ToolCallAccuracy "
                  f"{report['tool_call_accuracy']:.3f}  unauthorized side effects "
                  f"{report['unauthorized_side_effects']}")
    _write_json(json_out, report)
    if report["passed"] != report["scenarios"]:
        raise typer.Exit(1)


def _write_text(path: Path | None, text: str) -> None:
    if path is None:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _demo_runtime(data_dir: Path | None) -> Any:
    """The configured runtime (the demo bot when none is configured), its knowledge base
    holding the demo help centre when it is empty."""
    from supportgraph.runtime import DEMO_BOT_CONFIG, DEMO_HELP_URL, DEMO_HELPCENTER

    settings = load_settings(data_dir)
    if settings.bot_config is None:
        settings = settings.with_overrides(bot_config=DEMO_BOT_CONFIG)
    runtime = _open_runtime(settings)
    if runtime.knowledge.store.count() == 0:
        with progress_bar() as progress:
            runtime.knowledge.ingestor.ingest_paths([DEMO_HELPCENTER], base_url=DEMO_HELP_URL,
                                                    progress=_tracked(progress))
    return runtime


def _judge(name: str | None) -> Any | None:
    """The judge chat model for the LLM-judged ragas metrics, or None."""
    if not name:
        return None
    try:
        from langchain.chat_models import init_chat_model

        return init_chat_model(name, temperature=0)
    except Exception as exc:
        fail(f"--judge-model / SUPPORTGRAPH_JUDGE_MODEL '{name}': {exc}")
    return None


def _run_rag(runtime: Any, dataset: Path, items: list[Any], judge_name: str | None,
             judge_model: Any | None) -> dict[str, Any]:
    """Every question in a fresh in-memory conversation of the runtime's graph and context."""
    from langgraph.checkpoint.memory import MemorySaver

    from agents.graph import build_graph
    from agents.retrieve import search_preferring_language
    from agents.support_agent import SupportAgent
    from evals.datasets import DatasetError
    from evals.metrics import RagasMetrics, StoreChunks
    from evals.rag import check_doc_ids, run_rag_eval

    kb = runtime.knowledge
    try:
        check_doc_ids(dataset, items, set(kb.store.document_hashes()))
    except DatasetError as exc:
        fail(str(exc))
    metrics = RagasMetrics(kb.embedder, judge_model)
    chunks = StoreChunks(kb.store, runtime.settings.tenant)
    agent = SupportAgent(build_graph(MemorySaver()), runtime.context)

    def retrieve(question: str, language: str) -> list[dict[str, Any]]:
        return search_preferring_language(runtime.context, question, language)[0]

    with progress_bar() as progress:
        return run_rag_eval(agent, items, metrics, chunks, judge=judge_name,
                            dataset=str(dataset), retrieve=retrieve,
                            progress=_tracked(progress))


def _apply_gate(report: dict[str, Any], baseline: Path | None, previous: dict[str, Any] | None,
                max_drop: float) -> list[dict[str, Any]]:
    from evals.rag import regression_check

    if baseline is None or previous is None:
        return []
    dropped = regression_check(report["summary"], previous, max_drop)
    report["gate"] = {"baseline": str(baseline), "max_drop": max_drop, "dropped": dropped,
                      "passed": not dropped}
    return dropped


def _print_rag(report: dict[str, Any]) -> None:
    s = report["summary"]
    table = Table(title=f"RAG: {s['questions']} questions, {s['seconds']:.0f} s")
    langs = list(report["by_language"])
    for col in ("metric", "all", *langs):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for m in report["metrics"]:
        values = [s.get(m), *(report["by_language"][lang].get(m) for lang in langs)]
        table.add_row(m, *("-" if v is None else f"{v:.3f}" for v in values))
    console.print(table)
    console.print(f"[dim]p50 {s['p50_latency_ms']:.0f} ms, p95 {s['p95_latency_ms']:.0f} ms "
                  f"per turn; {s.get('cpu_seconds', 0.0):.1f} s CPU; {s['citations']} citations, "
                  f"{s['invalid_citations']} invalid; outcomes "
                  f"{', '.join(f'{k} {v}' for k, v in s.get('outcomes', {}).items())}; "
                  f"judge: {report.get('judge') or 'none'}[/]", highlight=False)


def _report_gate(dropped: list[dict[str, Any]], max_drop: float) -> None:
    for d in dropped:
        err_console.print(f"[bold red]regression:[/] {d['metric']} dropped {d['drop']:.4f} "
                          f"({d['baseline']:.4f} -> {d['current']:.4f}), more than "
                          f"{max_drop:g}", highlight=False)


JudgeOpt = Annotated[str | None, typer.Option(
    "--judge-model", envvar="SUPPORTGRAPH_JUDGE_MODEL",
    help="init_chat_model name of a judge for faithfulness, answer relevancy and "
         "groundedness (default SUPPORTGRAPH_JUDGE_MODEL; none: those are skipped).")]


@eval_app.command("rag")
def eval_rag(
    dataset: Annotated[Path, typer.Option(help="Questions JSONL (see evals/rag.py).")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write an HTML report "
                                                  "here.")] = None,
    baseline: Annotated[Path | None, typer.Option(help="A previous --json report: exit 1 "
                                                  "when a headline metric dropped.")] = None,
    max_drop: Annotated[float, typer.Option(help="Largest allowed drop of a metric "
                                            "against --baseline.")] = 0.02,
    judge_model: JudgeOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Run the whole graph on each question (a fresh conversation each) and score it."""
    from evals.datasets import DatasetError
    from evals.rag import load_baseline, load_rag_dataset

    try:
        items = load_rag_dataset(dataset)
        previous = load_baseline(baseline) if baseline is not None else None
    except DatasetError as exc:
        fail(str(exc))
    if max_drop < 0:
        fail("--max-drop: must not be negative")
    judge = _judge(judge_model)
    runtime = _demo_runtime(data_dir)
    try:
        report = _run_rag(runtime, dataset, items, judge_model if judge else None, judge)
    finally:
        runtime.close()
    dropped = _apply_gate(report, baseline, previous, max_drop)
    _print_rag(report)
    _write_json(json_out, report)
    if html_out is not None:
        from evals.report import render_rag_html

        _write_text(html_out, render_rag_html(report))
    if dropped:
        _report_gate(dropped, max_drop)
        raise typer.Exit(1)


@eval_app.command("all")
def eval_all(
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write an HTML report "
                                                  "here.")] = None,
    rag_dataset: Annotated[Path | None, typer.Option(help="RAG questions (default: the demo "
                                                     "set).")] = None,
    scenarios: Annotated[Path | None, typer.Option(help="Scenarios JSONL (default: the demo "
                                                   "scenarios).")] = None,
    intent_test: Annotated[Path | None, typer.Option(help="Intent test CSV (default: the "
                                                     "demo test set); trained on the bot "
                                                     "config's examples.")] = None,
    baseline: Annotated[Path | None, typer.Option(help="A previous rag or all --json report "
                                                  "for the RAG regression gate.")] = None,
    max_drop: Annotated[float, typer.Option(help="Largest allowed drop of a RAG metric "
                                            "against --baseline.")] = 0.02,
    judge_model: JudgeOpt = None,
    data_dir: DataDir = None,
) -> None:
    """RAG, scenarios and intent suites on the demo shop, in one JSON/HTML report."""
    import tempfile

    from evals.datasets import DatasetError
    from evals.intent import load_labelled_csv, run_intent_eval
    from evals.rag import load_baseline, load_rag_dataset
    from evals.scenarios import agent_factory, load_scenarios, run_scenario, summarise
    from supportgraph.runtime import DEMO_DIR, intent_embedder, intent_encoders

    rag_path = rag_dataset or DEMO_DIR / "rag_eval.jsonl"
    scen_path = scenarios or DEMO_DIR / "scenarios.jsonl"
    test_path = intent_test or DEMO_DIR / "intents_test.csv"
    try:
        items = load_rag_dataset(rag_path)
        scen_items = load_scenarios(scen_path)
        load_labelled_csv(test_path)
        previous = load_baseline(baseline) if baseline is not None else None
    except DatasetError as exc:
        fail(str(exc))
    judge = _judge(judge_model)
    runtime = _demo_runtime(data_dir)
    try:
        rag = _run_rag(runtime, rag_path, items, judge_model if judge else None, judge)
        make = agent_factory(runtime)
        results = []
        with progress_bar() as progress:
            task = progress.add_task("scenarios", total=len(scen_items))
            for scenario in scen_items:
                results.append(run_scenario(scenario, make))
                progress.advance(task)
        scen = summarise(results, scen_items)
        texts, labels = runtime.bot.training_examples()
        with tempfile.TemporaryDirectory(prefix="sg-intent-") as tmp:
            import csv

            train_path = Path(tmp) / "train.csv"
            with train_path.open("w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["text", "label"])
                writer.writerows(zip(texts, labels, strict=True))
            with progress_bar() as progress:
                intent = run_intent_eval(train_path, test_path,
                                         intent_embedder(runtime.settings,
                                                         runtime.knowledge.embedder),
                                         cache_dir=runtime.settings.intent_cache_dir
                                         or runtime.settings.data_dir / "intent_cache",
                                         encoders=intent_encoders(runtime.settings,
                                                                  runtime.bot),
                                         progress=_tracked(progress))
    finally:
        runtime.close()
    dropped = _apply_gate(rag, baseline, previous, max_drop)
    rs = rag["summary"]
    overview = [
        {"suite": "rag", "metric": m, "value": rs[m],
         "status": "dropped" if any(d["metric"] == m for d in dropped) else "ok"}
        for m in ("retrieval_recall@5", "answer_string_presence", "citation_validity",
                  "unanswerable_declined") if m in rs]
    overview.append({"suite": "scenarios", "metric": "pass_rate", "value": scen["pass_rate"],
                     "status": "ok" if scen["passed"] == scen["scenarios"] else "failures"})
    overview.append({"suite": "intent", "metric": "accuracy", "value": intent["accuracy"],
                     "status": "ok"})
    combined = {"overview": overview, "rag": rag, "scenarios": scen, "intent": intent}
    _print_rag(rag)
    table = Table(title="All suites")
    for col in ("suite", "metric", "value", "status"):
        table.add_column(col)
    for row in overview:
        table.add_row(row["suite"], row["metric"], f"{row['value']:.3f}", row["status"])
    console.print(table)
    _write_json(json_out, combined)
    if html_out is not None:
        from evals.report import render_all_html

        _write_text(html_out, render_all_html(combined))
    if dropped:
        _report_gate(dropped, max_drop)
    if dropped or scen["passed"] != scen["scenarios"]:
        if scen["passed"] != scen["scenarios"]:
            err_console.print(f"[bold red]scenarios:[/] {scen['scenarios'] - scen['passed']} "
                              "failed", highlight=False)
        raise typer.Exit(1)


customer_app = typer.Typer(help="Export or erase what is stored about a customer (GDPR).",
                           no_args_is_help=True)
app.add_typer(customer_app, name="customer")


@customer_app.command("export")
def customer_export(
    customer_id: Annotated[str, typer.Argument(help="The shop's customer id, e.g. cus_001.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the JSON here "
                                             "(default: standard output).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Everything stored about a customer as JSON: profile, orders, conversations and their
    messages, channel identities, tickets, approvals, action executions, audit records."""
    from supportgraph.db import init_db, make_engine
    from supportgraph.privacy import CustomerNotFoundError, export_customer
    from supportgraph.settings import ConfigError

    settings = load_settings(data_dir)
    engine = make_engine(settings.database_url_resolved)
    try:
        init_db(engine)
        data = export_customer(engine, customer_id)
    except CustomerNotFoundError:
        fail(f"customer {customer_id!r}: nothing is stored about this id", 1)
    except ConfigError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    if out is None:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        _write_json(out, data)
        err_console.print(f"wrote {out} ({len(data['conversations'])} conversations, "
                          f"{len(data['orders'])} orders)", highlight=False)


@customer_app.command("delete")
def customer_delete(
    customer_id: Annotated[str, typer.Argument(help="The shop's customer id, e.g. cus_001.")],
    yes: Annotated[bool, typer.Option("--yes", help="Really erase (it cannot be undone).")]
    = False,
    data_dir: DataDir = None,
) -> None:
    """Erase a customer: delete their conversations, messages, channel identities and
    conversation checkpoints; anonymise the records kept for accounting (orders, refunds,
    audit, approvals, tickets)."""
    from supportgraph.checkpoints import Checkpoints
    from supportgraph.db import init_db, make_engine
    from supportgraph.privacy import CustomerNotFoundError, erase_customer
    from supportgraph.settings import ConfigError

    if not yes:
        fail(f"customer delete {customer_id}: nothing was changed; add --yes to erase")
    settings = load_settings(data_dir)
    engine = make_engine(settings.database_url_resolved)
    checkpoints: Checkpoints | None = None
    try:
        init_db(engine)
        checkpoints = Checkpoints(settings, pool_size=2)
        report = erase_customer(engine, customer_id, checkpoints.saver)
        checkpoints.compact()  # deleted checkpoints must not linger in free pages
    except CustomerNotFoundError:
        fail(f"customer {customer_id!r}: nothing is stored about this id", 1)
    except ConfigError as exc:
        fail(f"{exc} (nothing was changed)")
    finally:
        engine.dispose()
        if checkpoints is not None:
            checkpoints.close()
    table = Table(title=f"Customer {customer_id} erased")
    table.add_column("what")
    table.add_column("done")
    table.add_column("rows", justify="right")
    for what, how, rows in report:
        table.add_row(what, how, str(rows))
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
