"""The composition root: builds the store, models, retriever, database and agent from Settings."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from agents.configuration import AgentContext
from agents.graph import build_graph
from agents.slots import SlotConfig
from agents.support_agent import SupportAgent
from agents.trace import TraceFile
from knowledge.chunking import ChunkingConfig
from knowledge.embeddings import Embedder, make_embedder
from knowledge.ingest import Ingestor
from knowledge.loaders import DocumentLoader
from knowledge.search import HybridRetriever
from knowledge.sparse import BM25Encoder
from knowledge.spelling import lexicon
from knowledge.store import VectorStore
from supportgraph.checkpoints import Checkpoints
from supportgraph.conversations import ConversationStore
from supportgraph.db import init_db, make_engine
from supportgraph.settings import BotConfig, ConfigError, Settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from agents.injection import InjectionDetector
    from agents.intent_model import IntentClassifier
    from tools.service import ActionService

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_HELPCENTER = DEMO_DIR / "helpcenter"
DEMO_HELP_URL = "/help"
DEMO_BOT_CONFIG = DEMO_DIR / "bot.yaml"
# Written into a data directory by `supportgraph demo`: `ask` and `chat` on that directory
# then talk to the demo bot (its intents and actions), not the bare default one.
DEMO_MARKER = "demo-shop"


def open_store(settings: Settings, dim: int) -> VectorStore:
    """Qdrant server when a URL is set, else the embedded engine in the data directory."""
    if settings.qdrant_url:
        from knowledge.server_store import QdrantServerStore

        return QdrantServerStore.from_url(settings.qdrant_url, settings.qdrant_api_key,
                                          settings.collection, dim)
    from knowledge.edge_store import EdgeStore

    return EdgeStore(settings.qdrant_path_resolved / settings.collection, dim)


def make_chat_model(settings: Settings) -> Any | None:
    """The configured chat model under its retry policy and circuit breaker
    (agents/resilience.py); the provider client's own retries are off where it has them."""
    if not settings.llm_model:
        return None
    from langchain.chat_models import init_chat_model

    from agents.resilience import ModelGuard, use_guard

    kwargs: dict[str, Any] = {"temperature": settings.llm_temperature,
                              "timeout": settings.llm_timeout_s}
    try:
        model = init_chat_model(settings.llm_model, max_retries=0, **kwargs)
    except (TypeError, ValueError):
        model = init_chat_model(settings.llm_model, **kwargs)
    use_guard(model, ModelGuard.from_settings(settings))
    return model


def make_guarded_embedder(settings: Settings) -> Embedder:
    """`make_embedder`, with an embedding endpoint (`provider:model`) called under a retry
    policy and circuit breaker; a local sentence-transformers model needs none."""
    model = settings.embedding_model
    if model and ":" in model and not Path(model).exists():
        from langchain.embeddings import init_embeddings

        from agents.resilience import GuardedEmbeddings, ModelGuard
        from knowledge.embeddings import LangChainEmbedder

        guarded = GuardedEmbeddings(init_embeddings(model), ModelGuard.from_settings(settings))
        return LangChainEmbedder(guarded, model)
    return make_embedder(model, settings.embedding_batch_size)


def intent_embedder(settings: Settings, embedder: Embedder) -> Embedder:
    """What the intent classifier reads: the bot's embedder, with the bundled multilingual
    encoder beside it unless switched off (or not installed)."""
    if settings.intent_multilingual_encoder == "off":
        return embedder
    from knowledge.embeddings import StackedEmbedder, multilingual_embedder

    second = multilingual_embedder()
    return StackedEmbedder([embedder, second]) if second is not None else embedder


def retrieval_multilingual(settings: Settings, bot: BotConfig, embedder: Embedder
                           ) -> Embedder | None:
    """The encoder searched with beside the knowledge base's embedder for queries not in
    English: the bundled multilingual one where the knowledge base embeds with the
    bundled English-only MiniLM and the bot serves another language, else None."""
    from knowledge.embeddings import BUNDLED_MODEL, multilingual_embedder

    if settings.retrieval_multilingual_encoder != "on" or embedder.name != BUNDLED_MODEL \
            or all(language == "en" for language in bot.languages):
        return None
    return multilingual_embedder()


def sentence_multilingual(embedder: Embedder) -> Embedder | None:
    """The encoder that scores non-English sentences for the offline responder: the
    bundled multilingual one where the knowledge base embeds with the English-only
    bundled MiniLM, else None (the knowledge base's own model does)."""
    from knowledge.embeddings import BUNDLED_MODEL, multilingual_embedder

    return multilingual_embedder() if embedder.name == BUNDLED_MODEL else None


def intent_encoders(settings: Settings, bot: BotConfig | None = None) -> str:
    """`IntentClassifier.train`'s `encoders` for the setting: "auto" reads every encoder
    for a bot that serves more than one language, and lets cross-validation choose
    otherwise (and where there is no bot, as in `eval intent`)."""
    mode = settings.intent_multilingual_encoder
    if mode == "auto":
        mode = "always" if bot is not None and len(set(bot.languages)) > 1 else "cv"
    return "all" if mode == "always" else "cv"


def make_injection_detector(settings: Settings, embedder: Embedder) -> InjectionDetector:
    """The input guard's detector; its classifier is trained (or loaded from
    data_dir/guard_cache) by `prepare()` or else on the first message it checks."""
    from agents.injection import DEFAULT_DATASET, InjectionDetector

    return InjectionDetector(embedder, dataset=settings.guard_dataset or DEFAULT_DATASET,
                             cache_dir=settings.data_dir / "guard_cache",
                             threshold=settings.guard_threshold,
                             use_classifier=settings.guard_classifier)


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
        embedder = embedder or make_guarded_embedder(settings)
        multilingual = retrieval_multilingual(settings, bot, embedder)
        if store is None:
            dim = embedder.dim + (multilingual.dim if multilingual is not None else 0)
            try:
                store = open_store(settings, dim)
            except ValueError as error:
                if multilingual is None:
                    raise
                # A knowledge base built before (MiniLM alone) is searched as it was.
                try:
                    store = open_store(settings, embedder.dim)
                except ValueError:
                    raise error from None
        if multilingual is not None and store.dim != embedder.dim + multilingual.dim:
            log.warning("the knowledge base holds %s vectors only: re-ingest it into a "
                        "new data directory to search other languages with %s",
                        embedder.name, multilingual.name)
            multilingual = None
        encoder = BM25Encoder(settings.bm25_k1, settings.bm25_b, settings.bm25_avg_len,
                              query_languages=bot.languages)
        loader = DocumentLoader(bot.languages, bot.default_language, settings.tenant)
        chunking = ChunkingConfig(settings.chunk_size, settings.chunk_overlap)
        retriever = HybridRetriever(store, embedder, encoder, mode=settings.search_mode,
                                    fusion=settings.fusion,
                                    prefetch_limit=settings.prefetch_limit,
                                    multilingual=multilingual)
        return cls(
            store=store, embedder=embedder, encoder=encoder,
            ingestor=Ingestor(store, retriever.index_embedder, encoder, loader, chunking),
            retriever=retriever,
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


def order_item_names(actions: ActionService, bot: BotConfig
                     ) -> Callable[[str | None, Sequence[str]], dict[str, str]]:
    """The `AgentContext.order_items` lookup on `actions`' shop: names of the items of the
    customer's recent orders and of the given orders (the intent agent passes those the
    conversation proved by email; an anonymous customer has only those), with their
    translations from `bot.product_names` (e.g. the demo's French names), mapped to the
    shop's name."""

    def names(customer_id: str | None, order_numbers: Sequence[str] = ()) -> dict[str, str]:
        found: dict[str, str] = {}
        orders = actions.backend.list_orders(customer_id, 10) if customer_id else []
        named = (actions.backend.get_order(n) for n in dict.fromkeys(order_numbers[:5]))
        orders = [*orders, *(order for order in named if order is not None)]
        for item in (i for order in orders for i in order.items):
            found[item.name] = item.name
            for translated in bot.product_names.get(item.name, {}).values():
                found[translated] = item.name
        return found

    return names


def _check_trace_file(path: Path | None) -> None:
    """Checked before anything slow starts: an unwritable trace path is a one-line
    configuration error, not a traceback once the models have loaded."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ConfigError(f"SUPPORTGRAPH_TRACE_LOG {path}: cannot write the trace file: "
                          f"{exc.strerror or exc}") from exc


class SupportRuntime:
    """A running supportgraph: database, knowledge base, checkpointer and the agent."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None,
                 chat_model: Any | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.bot = settings.load_bot_config()
        _check_trace_file(settings.trace_log)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = make_engine(settings.database_url_resolved)
        init_db(self.engine)
        self.knowledge = KnowledgeServices.build(settings, self.bot, embedder)
        self.checkpoints = Checkpoints(settings)
        self.checkpointer = self.checkpoints.saver
        self.actions = make_action_service(settings, self.bot, self.engine, clock)
        detector = make_injection_detector(settings, self.knowledge.embedder)
        detector.prepare()  # trained or loaded now, not during a customer's first turn
        for language in self.bot.languages:
            lexicon(language)  # the typo check's word lists, likewise (0.3 s for EN + FR)
        self.context = AgentContext(
            actions=self.actions,
            order_items=order_item_names(self.actions, self.bot),
            classifier=self._train_classifier(),
            sentence_multilingual=sentence_multilingual(self.knowledge.embedder),
            slot_config=SlotConfig(order_number_pattern=self.bot.order_number_pattern),
            retriever=self.knowledge.retriever, bot=self.bot, tenant=settings.tenant,
            chat_model=chat_model if chat_model is not None else make_chat_model(settings),
            top_k=settings.top_k, min_confidence=settings.answer_min_confidence,
            lexical_bonus=settings.lexical_bonus, language_offsets=settings.language_offsets,
            max_message_chars=settings.max_message_chars,
            injection_detector=detector,
            mask_pii_for_llm=settings.mask_pii_for_llm,
            mask_pii_in_records=settings.transcript_pii == "mask",
        )
        # Transcripts are written on every turn: on SQLite through their own connections
        # with the checkpoints' fsync policy (`sqlite_synchronous`); the action tables
        # keep SQLite's full durability.
        self._transcript_engine = make_engine(
            settings.database_url_resolved, synchronous=settings.sqlite_synchronous) \
            if settings.database_url_resolved.startswith("sqlite:") else self.engine
        self.conversations = ConversationStore(self._transcript_engine,
                                               mask_pii=settings.transcript_pii == "mask")
        self.agent = SupportAgent(build_graph(self.checkpointer), self.context,
                                  self.conversations)
        self.trace_file = TraceFile(settings.trace_log) if settings.trace_log else None
        # Actions a killed process left in flight are settled now; the ones still too young
        # to tell from a live worker's are settled by a second pass one grace period later.
        self.actions.reconcile_interrupted()
        self.reconciler = threading.Timer(self.actions.interrupted_after_s,
                                          self.actions.reconcile_interrupted)
        self.reconciler.daemon = True
        self.reconciler.start()

    def _train_classifier(self) -> IntentClassifier | None:
        """The intent classifier for the bot's intents (cached on disk by their hash)."""
        if not self.bot.intents:
            return None
        from agents.intent_model import IntentClassifier

        texts, labels = self.bot.training_examples()
        return IntentClassifier.train(texts, labels,
                                      intent_embedder(self.settings, self.knowledge.embedder),
                                      encoders=intent_encoders(self.settings, self.bot),
                                      cache_dir=self.settings.intent_cache_dir
                                      or self.settings.data_dir / "intent_cache")

    def close(self) -> None:
        self.reconciler.cancel()
        if self.trace_file is not None:
            self.trace_file.close()
        self.knowledge.close()
        self.checkpoints.close()
        self._transcript_engine.dispose()
        self.engine.dispose()

    def __enter__(self) -> SupportRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
