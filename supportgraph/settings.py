"""Settings: one pydantic-settings class (env prefix SUPPORTGRAPH_) plus the bot config.

Settings say where things live and which models to use; the bot config (an
optional YAML file) says how the bot behaves: its name, languages and, later,
its intents and action policy. Both are loaded once and passed down.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names the file and field."""


class IntentSpec(BaseModel):
    """One intent the bot recognises and what a turn with it becomes.

    `route` is `answer` (retrieve and answer), `action:<tool>` (run a tool once the
    required slots are known), `handoff` (a human takes over) or `smalltalk`.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    route: str = Field(pattern=r"^(answer|handoff|smalltalk|action:[a-z][a-z0-9_]*)$")
    examples: list[str] = Field(min_length=1)
    required_slots: list[str] = Field(default_factory=list)
    titles: dict[str, str] = Field(default_factory=dict, description="Short customer-facing "
                                   "name per language, used in clarifying questions.")
    shows_order: bool = Field(default=False, description="For an `answer` intent about the "
                              "customer's own order (a late or lost parcel): when the "
                              "conversation knows the order and the customer may see it "
                              "(signed in, or proven by email), its status comes first.")

    @field_validator("shows_order")
    @classmethod
    def _only_for_answers(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("route", "answer") != "answer":
            raise ValueError("only an intent with route 'answer' can show the order "
                             "(an action intent already reports on it)")
        return value

    def title(self, language: str) -> str:
        return self.titles.get(language) or self.titles.get("en") or self.name.replace("_", " ")


class BotConfig(BaseModel):
    """How the bot behaves, read from a YAML file (`SUPPORTGRAPH_BOT_CONFIG`)."""

    model_config = ConfigDict(extra="allow")

    name: str = "Support assistant"
    company: str = "Cedar Lane Goods"
    languages: list[str] = Field(default_factory=lambda: ["en", "fr"])
    default_language: str = "en"
    handoff_offer: bool = True
    intents: list[IntentSpec] = Field(default_factory=list)
    out_of_scope_examples: list[str] = Field(default_factory=list)
    order_number_pattern: str = r"\b[Cc][Ll][- ]?\d{6}\b"
    product_names: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Translations of product names: customers may use "
        "them, and replies in that language show them. {shop name: {language: name}}, inline "
        "or as the path of a JSON file")

    @field_validator("product_names", mode="before")
    @classmethod
    def _product_names_file(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            base = Path((info.context or {}).get("base_dir", "."))
            path = Path(value) if Path(value).is_absolute() else base / value
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"cannot read product names from {path}: {exc}") from exc
        return value
    policy: dict[str, Any] = Field(default_factory=dict, description="Overrides of the action "
                                   "policy (tools/policy.py PolicyConfig), e.g. "
                                   "approval_threshold: 300")

    def training_examples(self, oos_label: str = "oos") -> tuple[list[str], list[str]]:
        """(texts, labels) for the intent classifier; out-of-scope examples get `oos_label`."""
        texts = [e for spec in self.intents for e in spec.examples]
        labels = [spec.name for spec in self.intents for _ in spec.examples]
        texts += self.out_of_scope_examples
        labels += [oos_label] * len(self.out_of_scope_examples)
        return texts, labels

    @classmethod
    def from_yaml(cls, path: Path) -> BotConfig:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read bot config: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}{where}: invalid YAML") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: bot config must be a mapping at the top level")
        try:
            return cls.model_validate(raw, context={"base_dir": str(path.parent)})
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"{path}: field '{field}': {err['msg']}") from exc


class Settings(BaseSettings):
    """Where data lives, which models run, how search and the server behave."""

    model_config = SettingsConfigDict(env_prefix="SUPPORTGRAPH_", env_file=None, extra="ignore")

    data_dir: Path = Path(".supportgraph")
    intent_cache_dir: Path | None = None
    database_url: str | None = None
    bot_config: Path | None = None

    # Knowledge base
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    qdrant_path: Path | None = None
    collection: str = "knowledge"
    tenant: str = "default"
    embedding_model: str | None = None
    embedding_batch_size: int = 64
    # The intent classifier can also read the bundled multilingual encoder (USE multilingual
    # v3) beside embedding_model. "cv": cross-validation on the examples decides whether it
    # helps; "always": always read it (examples in one language, customers writing in
    # others, which held-out folds cannot show); "auto": "always" for a bot configured
    # with more than one language, else "cv"; "off": never.
    intent_multilingual_encoder: Literal["auto", "cv", "always", "off"] = "auto"
    # Retrieval for languages the embedding model does not read: "on" stores the bundled
    # multilingual encoder's embedding of every chunk beside the bundled English-only
    # MiniLM's when the bot serves a language other than English, and searches with both
    # for queries not in English (knowledge/search.py); "off": MiniLM alone. Better French
    # retrieval (bench/retrieval.py: nDCG@10 0.852 -> 0.931), but the offline responder's
    # answers were not (calibration string presence 0.878 -> 0.872), hence off by default.
    # A store built with MiniLM alone is still opened, and searched, as it is.
    retrieval_multilingual_encoder: Literal["on", "off"] = "off"
    chunk_size: int = 900
    chunk_overlap: int = 120
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_avg_len: float = 80.0

    # Retrieval
    search_mode: Literal["hybrid", "dense", "sparse"] = "hybrid"
    fusion: Literal["rrf", "dbsf"] = "dbsf"
    top_k: int = 5
    prefetch_limit: int = 50
    # Answer confidence: the probability that a passage answers the question, from the
    # answerability model (agents/answerability.py) over the passage score (cosine similarity
    # + lexical_bonus per shared stem, at most 3, - the language's offset: all-MiniLM-L6-v2
    # rates any two French texts as fairly similar), its best sentence's similarity and the
    # question words it covers. The threshold keeps 90% of the calibration questions'
    # answerable ones (bench/fit_answerability.py).
    answer_min_confidence: float = 0.41
    lexical_bonus: float = 0.06
    language_offsets: dict[str, float] = Field(
        default_factory=lambda: {"fr": 0.2, "de": 0.2, "es": 0.2, "it": 0.2, "nl": 0.2})

    # Commerce backend: the demo shop tables by default, a REST API when a URL is set.
    commerce_url: str | None = None
    commerce_auth_header: str = "Authorization"
    commerce_auth_value: str | None = None
    commerce_timeout_s: float = 10.0

    # Chat model: any `init_chat_model` string such as "openai:gpt-4o-mini".
    llm_model: str | None = None
    llm_temperature: float = 0.0
    llm_timeout_s: float = 30.0
    mask_pii_for_llm: bool = True
    trace_log: Path | None = None
    """Append one JSON line per turn (guard verdicts, intent, passages, responder, action,
    latency; PII masked) to this file, rotated at 20 MB (agents/trace.py)."""
    transcript_pii: Literal["mask", "keep"] = "mask"
    """What stored transcripts hold of the emails, phone numbers, card numbers, IBANs and
    addresses people write: `mask` (placeholders such as [EMAIL]) in conversation messages,
    inbox summaries, ticket summaries and the free-text reasons of actions; `keep` the
    originals. The LangGraph checkpoints keep the conversation's working state unmasked
    (the email that proves an order must survive to the next turn); erasing a customer
    deletes them."""
    # Resilience of model calls (agents/resilience.py): timeouts, 429 and 5xx are retried
    # with exponential backoff and jitter within an attempt count and a time budget; after
    # `llm_breaker_threshold` consecutive failures the model's circuit breaker opens for
    # `llm_breaker_reset_s` and turns take the offline path at once.
    llm_max_attempts: int = Field(default=3, ge=1)
    llm_retry_initial_s: float = Field(default=0.5, ge=0)
    llm_retry_max_s: float = Field(default=4.0, ge=0)
    llm_retry_budget_s: float = Field(default=20.0, gt=0)
    llm_breaker_threshold: int = Field(default=5, ge=1)
    llm_breaker_reset_s: float = Field(default=30.0, gt=0)

    # Identity and access. The site signs a user id with `identity_secret`
    # (HMAC-SHA256, as Intercom's identity verification); server-to-server calls and the
    # approvals API use `Authorization: Bearer <admin_api_key>`.
    identity_secret: str | None = None
    admin_api_key: str | None = None
    cors_origins: list[str] = Field(default_factory=list, description="Sites allowed to call "
                                    "the API from a browser (the widget), e.g. "
                                    "'[\"https://shop.example\"]'")

    # Channels (channels/registry.py): a channel is enabled when its settings are set.
    public_url: str | None = None
    """e.g. https://support.example.com: citations in Slack and email get absolute links."""
    channels_timeout_s: float = 10.0
    slack_signing_secret: str | None = None
    slack_bot_token: str | None = None
    slack_api_base: str = "https://slack.com/api"
    email_smtp_host: str | None = None
    email_smtp_port: int = 587
    email_smtp_username: str | None = None
    email_smtp_password: str | None = None
    email_smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    email_from: str | None = None
    email_inbound_secret: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None

    # Server
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_message_chars: int = 4000
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "NORMAL"
    """fsync policy of conversation checkpoints and transcripts on SQLite (WAL): NORMAL
    survives a crash of the process, a power cut may lose the last turns (never a
    refund: the action tables always fsync every commit); FULL fsyncs every write."""

    # Input guard (agents/injection.py): patterns + a classifier trained on guard_dataset
    # (default: supportgraph/demo/guard/train.jsonl), cached in data_dir/guard_cache.
    guard_classifier: bool = True
    guard_threshold: float | None = None
    """Attack-probability threshold; unset = the one chosen by cross-validation."""
    guard_dataset: Path | None = None
    # Request limits (channels/ratelimit.py). Token buckets: `*_burst` requests at once,
    # refilled at `*_per_minute`. Per client IP on every /v1 endpoint; per conversation
    # (or verified customer) on the endpoints that run a turn. 429 + Retry-After beyond.
    max_body_bytes: int = Field(default=65_536, ge=1024)
    rate_limit_enabled: bool = True
    rate_limit_ip_per_minute: float = Field(default=1200.0, gt=0)
    rate_limit_ip_burst: int = Field(default=600, ge=1)
    rate_limit_conversation_per_minute: float = Field(default=30.0, gt=0)
    rate_limit_conversation_burst: int = Field(default=20, ge=1)

    @property
    def database_url_resolved(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'supportgraph.db'}"

    @property
    def checkpoint_path(self) -> Path:
        return self.data_dir / "checkpoints.sqlite"

    @property
    def qdrant_path_resolved(self) -> Path:
        return self.qdrant_path or self.data_dir / "qdrant"

    def load_bot_config(self) -> BotConfig:
        return BotConfig.from_yaml(self.bot_config) if self.bot_config else BotConfig()

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed (used by the CLI and tests)."""
        return self.model_copy(update=changes)
