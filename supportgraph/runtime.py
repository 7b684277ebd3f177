"""The composition root: builds the store, models, retriever, database and agent from Settings."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.sqlite import SqliteSaver
from sqlalchemy.engine import Engine

from agents.configuration import AgentContext
from agents.graph import build_graph
from agents.slots import SlotConfig
from agents.support_agent import SupportAgent
from knowledge.chunking import ChunkingConfig
from knowledge.embeddings import Embedder, make_embedder
from knowledge.ingest import Ingestor
from knowledge.loaders import DocumentLoader
from knowledge.search import HybridRetriever
from knowledge.sparse import BM25Encoder
from knowledge.store import VectorStore
from supportgraph.db import init_db, make_engine
from supportgraph.settings import BotConfig, Settings

if TYPE_CHECKING:
    from agents.intent_model import IntentClassifier
    from tools.service import ActionService

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_HELPCENTER = DEMO_DIR / "helpcenter"
DEMO_HELP_URL = "/help"
DEMO_BOT_CONFIG = DEMO_DIR / "bot.yaml"


def open_store(settings: Settings, dim: int) -> VectorStore:
    """Qdrant server when a URL is set, else the embedded engine in the data directory."""
    if settings.qdrant_url:
        from knowledge.server_store import QdrantServerStore

        return QdrantServerStore.from_url(settings.qdrant_url, settings.qdrant_api_key,
                                          settings.collection, dim)
    from knowledge.edge_store import EdgeStore

    return EdgeStore(settings.qdrant_path_resolved / settings.collection, dim)


def make_chat_model(settings: Settings) -> Any | None:
    if not settings.llm_model:
        return None
    from langchain.chat_models import init_chat_model

    return init_chat_model(settings.llm_model, temperature=settings.llm_temperature,
                           timeout=settings.llm_timeout_s)


@dataclass
class KnowledgeServices:
    """Everything needed to ingest into and search the knowledge base."""

    store: VectorStore
    embedder: Embedder
    encoder: BM25Encoder
    ingestor: Ingestor
    retriever: HybridRetriever

    @classmethod
    def build(cls, settings: Settings, bot: BotConfig, embedder: Embedder | None = None,
              store: VectorStore | None = None) -> KnowledgeServices:
        embedder = embedder or make_embedder(settings.embedding_model,
                                             settings.embedding_batch_size)
        store = store or open_store(settings, embedder.dim)
        encoder = BM25Encoder(settings.bm25_k1, settings.bm25_b, settings.bm25_avg_len,
                              query_languages=bot.languages)
        loader = DocumentLoader(bot.languages, bot.default_language, settings.tenant)
        chunking = ChunkingConfig(settings.chunk_size, settings.chunk_overlap)
        return cls(
            store=store, embedder=embedder, encoder=encoder,
            ingestor=Ingestor(store, embedder, encoder, loader, chunking),
            retriever=HybridRetriever(store, embedder, encoder, mode=settings.search_mode,
                                      fusion=settings.fusion,
                                      prefetch_limit=settings.prefetch_limit),
        )

    def close(self) -> None:
        self.store.close()


def make_action_service(settings: Settings, bot: BotConfig, engine: Engine,
                        clock: Callable[[], datetime] | None = None) -> ActionService:
    """Actions against the demo shop tables, or a REST commerce API when configured."""
    from tools.backend import CommerceBackend
    from tools.policy import PolicyConfig
    from tools.service import ActionService

    backend: CommerceBackend
    if settings.commerce_url:
        from tools.http_backend import HttpCommerceBackend

        auth = ((settings.commerce_auth_header, settings.commerce_auth_value)
                if settings.commerce_auth_value else None)
        backend = HttpCommerceBackend(settings.commerce_url, auth_header=auth,
                                      timeout_s=settings.commerce_timeout_s)
    else:
        from tools.demo_backend import DemoShopBackend

        backend = DemoShopBackend(engine, clock=clock) if clock else DemoShopBackend(engine)
    policy = PolicyConfig.model_validate(bot.policy) if bot.policy else PolicyConfig()
    if clock is not None:
        return ActionService(backend, policy, engine, clock)
    return ActionService(backend, policy, engine)


class SupportRuntime:
    """A running supportgraph: database, knowledge base, checkpointer and the agent."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None,
                 chat_model: Any | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.bot = settings.load_bot_config()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = make_engine(settings.database_url_resolved)
        init_db(self.engine)
        self.knowledge = KnowledgeServices.build(settings, self.bot, embedder)
        self._checkpoint_conn = sqlite3.connect(settings.checkpoint_path, check_same_thread=False)
        self.checkpointer = SqliteSaver(self._checkpoint_conn)
        self.checkpointer.setup()
        self.actions = make_action_service(settings, self.bot, self.engine, clock)
        self.context = AgentContext(
            actions=self.actions,
            order_items=self._order_items,
            classifier=self._train_classifier(),
            slot_config=SlotConfig(order_number_pattern=self.bot.order_number_pattern),
            retriever=self.knowledge.retriever, bot=self.bot, tenant=settings.tenant,
            chat_model=chat_model if chat_model is not None else make_chat_model(settings),
            top_k=settings.top_k, min_confidence=settings.answer_min_confidence,
            lexical_bonus=settings.lexical_bonus, language_offsets=settings.language_offsets,
            max_message_chars=settings.max_message_chars,
            mask_pii_for_llm=settings.mask_pii_for_llm,
        )
        self.agent = SupportAgent(build_graph(self.checkpointer), self.context)

    def _order_items(self, customer_id: str | None) -> dict[str, str]:
        """Names of the customer's recently ordered items, with their translations from
        `bot.product_names` (e.g. the demo's French names), mapped to the shop's name."""
        if customer_id is None:
            return {}
        orders = self.actions.backend.list_orders(customer_id, 10)
        names: dict[str, str] = {}
        for item in (i for order in orders for i in order.items):
            names[item.name] = item.name
            for translated in self.bot.product_names.get(item.name, {}).values():
                names[translated] = item.name
        return names

    def _train_classifier(self) -> IntentClassifier | None:
        """The intent classifier for the bot's intents (cached on disk by their hash)."""
        if not self.bot.intents:
            return None
        from agents.intent_model import IntentClassifier

        texts, labels = self.bot.training_examples()
        return IntentClassifier.train(texts, labels, self.knowledge.embedder,
                                      cache_dir=self.settings.intent_cache_dir
                                      or self.settings.data_dir / "intent_cache")

    def close(self) -> None:
        self.knowledge.close()
        self._checkpoint_conn.close()
        self.engine.dispose()

    def __enter__(self) -> SupportRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
