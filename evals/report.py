"""Self-contained HTML reports (inline CSS and SVG, no scripts, no external files)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1200px;color:#1d2330;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #dde}
table{border-collapse:collapse;margin:.6rem 0}th,td{border:1px solid #d6d9e0;padding:.3rem .55rem;
text-align:left;vertical-align:top}th{background:#f2f4f8}td.num{text-align:right;
font-variant-numeric:tabular-nums}.good{background:#e5f6ea}.mid{background:#fff6d9}
.bad{background:#fde6e6}.plots{display:flex;flex-wrap:wrap;gap:1rem}
.plot{border:1px solid #e2e5ec;border-radius:6px;padding:.4rem}
.case{border:1px solid #d6d9e0;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}
.case pre{white-space:pre-wrap;background:#f7f8fb;padding:.5rem;margin:.2rem 0}
.muted{color:#667}.fail{color:#b00020;font-weight:600}.pass{color:#0a7d32;font-weight:600}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return esc(value)


def _cls(value: Any) -> str:
    if not isinstance(value, float) or isinstance(value, bool):
        return "num"
    return "num " + ("good" if value >= 0.9 else "mid" if value >= 0.7 else "bad")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str = "",
          score_cols: Sequence[int] = ()) -> str:
    ident = f' id="{esc(table_id)}"' if table_id else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            cls = _cls(value) if i in score_cols else ("num" if isinstance(value, int | float)
                                                        else "")
            cells.append(f'<td class="{cls}">{_fmt(value)}</td>' if cls
                         else f"<td>{_fmt(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def histogram_svg(title: str, values: Sequence[float], bins: int = 10, width: int = 260,
                  height: int = 150) -> str:
    """A 0–1 histogram of one metric's per-question scores as inline SVG."""
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    top = max(counts) or 1
    left, bottom, plot_h = 24, 22, height - 48
    bar_w = (width - left - 6) / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{esc(title)} distribution">',
             f'<text x="{width / 2}" y="13" text-anchor="middle" font-size="12" '
             f'font-weight="600">{esc(title)} (n={len(values)})</text>']
    for i, c in enumerate(counts):
        h = plot_h * c / top
        x = left + i * bar_w
        y = height - bottom - h
        parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" '
                     f'height="{h:.1f}" fill="#4a72c4"><title>{i / bins:.1f}–'
                     f'{(i + 1) / bins:.1f}: {c}</title></rect>')
        if c:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 2:.1f}" font-size="9" '
                         f'text-anchor="middle">{c}</text>')
    base = height - bottom
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - 6}" y2="{base}" '
                 'stroke="#445" stroke-width="1"/>')
    for tick in (0.0, 0.5, 1.0):
        x = left + tick * (width - left - 6)
        parts.append(f'<text x="{x:.1f}" y="{base + 13}" font-size="10" '
                     f'text-anchor="middle">{tick:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bars_svg(title: str, items: Sequence[tuple[str, float]], width: int = 420) -> str:
    """Horizontal 0–1 bars, one per group (language or category)."""
    row_h, label_w = 18, 120
    height = 24 + row_h * len(items)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{esc(title)}">',
             f'<text x="4" y="13" font-size="12" font-weight="600">{esc(title)}</text>']
    span = width - label_w - 50
    for i, (label, value) in enumerate(items):
        y = 20 + i * row_h
        parts.append(f'<text x="{label_w - 4}" y="{y + 12}" font-size="11" '
                     f'text-anchor="end">{esc(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{span * value:.1f}" '
                     f'height="{row_h - 5}" fill="#5b9a6e"/>')
        parts.append(f'<text x="{label_w + span * value + 4:.1f}" y="{y + 12}" '
                     f'font-size="10">{value:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body><h1>{esc(title)}</h1>{body}</body></html>\n")


def _breakdown(title: str, groups: dict[str, Any], metrics: Sequence[str], table_id: str
               ) -> str:
    headers = [title, "questions", *metrics]
    rows = [[name, g["questions"], *(g.get(m) for m in metrics)] for name, g in groups.items()]
    return table(headers, rows, table_id, score_cols=range(2, 2 + len(metrics)))


def rag_sections(report: dict[str, Any]) -> str:
    """The RAG part of a report: summary, distributions, breakdowns, worst cases."""
    metrics: list[str] = report["metrics"]
    s = report["summary"]
    out = [f'<p class="muted">{s["questions"]} questions ({s["answerable"]} answerable, '
           f'{s["unanswerable"]} not answerable) from {esc(report.get("dataset"))}; '
           f'{s["seconds"]:.1f} s, p50 {s["p50_latency_ms"]:.0f} ms, p95 '
           f'{s["p95_latency_ms"]:.0f} ms per turn; judge model: '
           f'{esc(report.get("judge") or "none (LLM-judged metrics skipped)")}; outcomes: '
           f'{esc(", ".join(f"{k} {v}" for k, v in s.get("outcomes", {}).items()))}.</p>']
    out.append("<h2>Summary</h2>")
    sources = report.get("metric_sources", {})
    out.append(table(["metric", "value", "computed by"],
                     [[m, s.get(m), sources.get(m, "")] for m in metrics], "summary",
                     score_cols=[1]))
    gate = report.get("gate")
    if gate:
        verdict = ('<span class="fail">FAILED</span>: ' + ", ".join(
            esc(d["metric"]) for d in gate["dropped"])) if gate["dropped"] \
            else '<span class="pass">passed</span>'
        out.append(f"<p>Regression gate against {esc(gate['baseline'])} (max drop "
                   f"{gate['max_drop']:g}): {verdict}</p>")
        if gate["dropped"]:
            out.append(table(["metric", "baseline", "current", "drop"],
                             [[d["metric"], d["baseline"], d["current"], d["drop"]]
                              for d in gate["dropped"]], "gate"))
    out.append("<h2>Score distributions</h2><div class='plots'>")
    rows = report["rows"]
    for m in metrics:
        values = [r["scores"][m] for r in rows if r["scores"].get(m) is not None]
        if values:
            out.append(f'<div class="plot">{histogram_svg(m, values)}</div>')
    out.append("</div>")
    out.append("<h2>By language</h2>")
    out.append(_breakdown("language", report["by_language"], metrics, "by-language"))
    out.append("<h2>By category</h2>")
    out.append(_breakdown("category", report["by_category"], metrics, "by-category"))
    headline = next((m for m in ("answer_string_presence", "retrieval_recall@5")
                     if m in metrics), None)
    if headline:
        out.append("<div class='plots'>")
        for key, label in (("by_language", "language"), ("by_category", "category")):
            items = [(name, float(g[headline])) for name, g in report[key].items()
                     if g.get(headline) is not None]
            out.append(f'<div class="plot">{bars_svg(f"{headline} by {label}", items)}</div>')
        out.append("</div>")
    out.append(f"<h2>Worst cases ({len(report['worst'])})</h2>")
    by_id = {r["id"]: r for r in rows}
    for ident in report["worst"]:
        out.append(_case(by_id[ident]))
    if not report["worst"]:
        out.append("<p>Every question scored full marks.</p>")
    return "".join(out)


def _case(row: dict[str, Any]) -> str:
    scores = ", ".join(f"{k} {_fmt(v)}" for k, v in row["scores"].items())
    passages = "".join(
        f"<li><b>{esc(p['doc_id'])}</b> {esc(p['section'])} "
        f"<span class='muted'>(similarity {p['similarity']:.2f}"
        f"{', read from the best article' if p.get('from_article') else ''})</span>"
        f"<pre>{esc(p['text'])}</pre></li>" for p in row["passages"])
    problems = "".join(f"<li class='fail'>{esc(p)}</li>" for p in row["problems"])
    return (f"<div class='case'><p><b>{esc(row['id'])}</b> "
            f"<span class='muted'>line {row['line']} · {esc(row['language'])} · "
            f"{esc(row['category'])} · {'answerable' if row['answerable'] else 'not answerable'}"
            f" · intent {esc(row['intent'])} · outcome {esc(row.get('outcome'))} · overall "
            f"{row['overall']:.2f}</span></p>"
            f"<p><b>Question:</b> {esc(row['question'])}</p>"
            f"<p><b>Answer:</b></p><pre>{esc(row['reply'])}</pre>"
            f"<p><b>Reference:</b> {esc(row['reference'] or '–')} "
            f"<span class='muted'>facts: {esc(', '.join(row['reference_facts']) or '–')}; "
            f"documents: {esc(', '.join(row['reference_doc_ids']) or '–')}</span></p>"
            f"<p><b>Scores:</b> {esc(scores)}</p>"
            + (f"<ul>{problems}</ul>" if problems else "")
            + f"<details><summary>Retrieved passages ({len(row['passages'])})</summary>"
            f"<ol>{passages}</ol></details></div>")


def render_rag_html(report: dict[str, Any]) -> str:
    return page("supportgraph — RAG evaluation", rag_sections(report))


def render_all_html(combined: dict[str, Any]) -> str:
    """`eval all`: the RAG report, then scenarios and intent summaries."""
    body = ["<h2>Overview</h2>", table(
        ["suite", "headline", "value", "status"],
        [[row["suite"], row["metric"], row["value"], row["status"]]
         for row in combined["overview"]], "overview")]
    body.append("<h1>RAG</h1>" + rag_sections(combined["rag"]))
    scen = combined.get("scenarios")
    if scen:
        body.append("<h1>Scenarios</h1>")
        body.append(table(["scenarios", "passed", "pass rate", "tool-call precision",
                           "tool-call recall", "ragas ToolCallAccuracy",
                           "unauthorized side effects"],
                          [[scen["scenarios"], scen["passed"], scen["pass_rate"],
                            scen["tool_call_precision"], scen["tool_call_recall"],
                            scen["tool_call_accuracy"], scen["unauthorized_side_effects"]]],
                          "scenarios", score_cols=[2, 3, 4, 5]))
        failed = [r for r in scen["results"] if not r["passed"]]
        if failed:
            body.append(table(["scenario", "first failure"],
                              [[r["name"], (r["failures"] or [""])[0]] for r in failed],
                              "scenario-failures"))
    intent = combined.get("intent")
    if intent:
        body.append("<h1>Intent</h1>")
        cols = [c for c in ("accuracy", "macro_f1", "in_scope_accuracy", "oos_recall",
                            "oos_precision", "median_latency_ms") if c in intent]
        body.append(table(cols, [[intent[c] for c in cols]], "intent",
                          score_cols=range(len(cols) - 1)))
    return page("supportgraph — evaluation", "".join(body))
