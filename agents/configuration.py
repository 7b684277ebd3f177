"""What a caller may configure for a run, and the dependencies nodes receive.

Dependencies (retriever, chat model, bot config) travel in the LangGraph
runtime context, so the same compiled graph runs against the demo shop, a
production knowledge base or test doubles, and no node reaches into a global.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from agents.pii import mask_pii
from agents.slots import SlotConfig
from knowledge.search import HybridRetriever
from supportgraph.settings import BotConfig

if TYPE_CHECKING:
    from agents.injection import InjectionDetector
    from agents.intent_model import IntentClassifier
    from knowledge.embeddings import Embedder
    from tools.service import ActionService


@dataclass
class AgentContext:
    retriever: HybridRetriever
    bot: BotConfig = field(default_factory=BotConfig)
    chat_model: Any | None = None
    tenant: str = "default"
    mask_pii_for_llm: bool = True
    """Mask emails, phones, cards, IBANs and addresses before text goes to the chat model."""
    mask_pii_in_records: bool = True
    """Mask them in the customer's free text that actions and tickets store (a refund's
    reason, a handoff's summary); never in the arguments an action needs."""
    top_k: int = 5
    min_confidence: float = 0.41
    lexical_bonus: float = 0.06
    language_offsets: dict[str, float] = field(default_factory=lambda: {"fr": 0.2})
    max_message_chars: int = 4000
    injection_detector: InjectionDetector | None = None
    """Patterns + classifier for guard_in; None runs the patterns alone."""
    history_turns: int = 6
    classifier: IntentClassifier | None = None
    sentence_multilingual: Embedder | None = None
    """Scores the sentences of passages not in English for the offline responder, where
    the knowledge base's embedder is English-only (the bundled all-MiniLM-L6-v2)."""
    actions: ActionService | None = None
    slot_config: SlotConfig = field(default_factory=SlotConfig)
    ambiguity_margin: float = 0.15
    ambiguity_max_confidence: float = 0.6
    llm_intent_below: float = 0.7
    order_items: Callable[[str | None, Sequence[str]], Mapping[str, str]] = \
        lambda _customer, _orders: {}
    """Names (in any language) of the items of the customer's orders and of the given
    order numbers (only orders the customer may see) -> the shop's item name."""
    today: Callable[[], date] = date.today

    def record_text(self, text: str) -> str:
        """`text` as an action or a ticket stores it: PII masked unless configured off."""
        return mask_pii(text).text if self.mask_pii_in_records else text
