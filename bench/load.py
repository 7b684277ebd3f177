"""Load test: N concurrent conversations of several turns against the real server.

Starts `supportgraph serve` on 127.0.0.1 (demo help centre and bot, offline
responder) in a subprocess, drives it with asyncio + httpx, and prints throughput,
p50/p95/p99 turn latency and errors. Bounded: every conversation has a fixed number
of turns and the whole run has a time limit.

    python bench/load.py [--conversations 100] [--turns 4] [--data-dir DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "supportgraph"
QUESTIONS = [
    "How long does standard delivery take?", "Do you ship to Switzerland?",
    "How do I return an item?", "When will I get my refund?",
    "Can I pay in three instalments?", "Are gift cards refundable?",
    "Combien coûte la livraison express ?", "Comment retourner un article ?",
    "Quels moyens de paiement acceptez-vous ?", "How do I reset my password?",
    "My parcel hasn't moved for a week", "Can I change my delivery address?",
]
OPENERS = ["Hello", "Bonjour", "Hi there"]
CLOSERS = ["Thanks!", "Merci beaucoup", "ok thank you, bye"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if values else 0.0


async def conversation(client: httpx.AsyncClient, turns: int, rng: random.Random,
                       latencies: list[float], errors: Counter[str], think: float) -> None:
    created = await client.post("/v1/conversations")
    if created.status_code != 201:
        errors[f"create {created.status_code}"] += 1
        return
    cid = created.json()["conversation_id"]
    script = [rng.choice(OPENERS)] + [rng.choice(QUESTIONS) for _ in range(turns - 2)] + [
        rng.choice(CLOSERS)]
    await asyncio.sleep(rng.uniform(0, think))
    for index, text in enumerate(script[:turns]):
        if index and think:
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
        started = time.perf_counter()
        try:
            response = await client.post(f"/v1/conversations/{cid}/messages", json={"text": text})
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] += 1
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            errors[f"HTTP {response.status_code}"] += 1
        elif not response.json().get("reply"):
            errors["empty reply"] += 1


async def drive(base: str, conversations: int, turns: int, seed: int, think: float
                ) -> tuple[list[float], Counter[str], float]:
    rng = random.Random(seed)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=conversations, max_keepalive_connections=conversations)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(conversation(client, turns, random.Random(rng.random()),
                                            latencies, errors, think)
                               for _ in range(conversations)))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed


async def warm_up(base: str) -> None:
    """Ask every scripted text once, so the run measures a warm server (caches of query
    and sentence embeddings filled), as a server is after its first minutes."""
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        cid = (await client.post("/v1/conversations")).json()["conversation_id"]
        for text in QUESTIONS + OPENERS + CLOSERS:
            await client.post(f"/v1/conversations/{cid}/messages", json={"text": text})


def log_path(name: str, port: int | str = "*") -> Path:
    """Where `demo_server` writes the server's output."""
    return Path(tempfile.gettempdir()) / f"sg-{name}-server-{port}.log"


@contextmanager
def demo_server(data_dir: Path, name: str, start_timeout: float,
                extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Prepare the demo data in `data_dir` (once), start `supportgraph serve` on a free
    127.0.0.1 port, wait for /healthz and yield its base URL; stop it on exit."""
    console = Console()
    env = dict(os.environ, HF_HUB_OFFLINE="1", SUPPORTGRAPH_DATA_DIR=str(data_dir),
               SUPPORTGRAPH_BOT_CONFIG=str(ROOT / "supportgraph" / "demo" / "bot.yaml"),
               **(extra_env or {}))
    console.print("preparing the demo data (ingest + seed, once) ...")
    subprocess.run([str(BIN), "demo", "--prepare-only"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    port = free_port()
    server_log = log_path(name, port)
    with server_log.open("w") as log_file:
        server = subprocess.Popen([str(BIN), "serve", "--port", str(port)], env=env,
                                  stdout=log_file, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + start_timeout
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            else:
                raise SystemExit(f"server did not start (log: {server_log})")
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:  # turns still running
                server.kill()
                server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start-timeout", type=float, default=600,
                        help="seconds to wait for the server to start (model loading)")
    parser.add_argument("--think", type=float, default=2.0,
                        help="mean seconds a customer takes before the next message "
                             "(0: closed loop, every reply immediately answered)")
    args = parser.parse_args()
    console = Console()
    tmp = None
    data_dir = args.data_dir
    if data_dir is None:
        tmp = tempfile.mkdtemp(prefix="sg-load-")
        data_dir = Path(tmp) / "data"
    try:
        with demo_server(data_dir, "load", args.start_timeout) as base:
            asyncio.run(warm_up(base))
            latencies, errors, elapsed = asyncio.run(
                drive(base, args.conversations, args.turns, args.seed, args.think))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "conversations": args.conversations, "turns_per_conversation": args.turns,
        "think_s": args.think,
        "turns": len(latencies), "seconds": round(elapsed, 2),
        "turns_per_s": round(len(latencies) / elapsed, 2),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else 0.0,
        "errors": sum(errors.values()), "errors_by_kind": dict(errors),
        "cpus": os.cpu_count(),
    }
    table = Table(title=f"Load: {args.conversations} concurrent conversations × {args.turns} "
                        f"turns, think time {args.think} s (offline responder, "
                        f"{os.cpu_count()} CPUs)")
    for col in ("turns", "seconds", "turns/s", "p50 ms", "p95 ms", "p99 ms", "errors"):
        table.add_column(col, justify="right")
    table.add_row(str(result["turns"]), str(result["seconds"]), str(result["turns_per_s"]),
                  str(result["p50_ms"]), str(result["p95_ms"]), str(result["p99_ms"]),
                  str(result["errors"]))
    console.print(table)
    if errors:
        console.print(f"errors: {dict(errors)} (server log: {log_path('load')})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
