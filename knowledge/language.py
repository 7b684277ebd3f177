"""Language identification restricted to the languages a bot supports."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

_lock = threading.Lock()


@lru_cache(maxsize=8)
def _identifier(languages: tuple[str, ...]) -> LanguageIdentifier:
    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(languages))
    return ident


def detect_language(
    text: str,
    languages: Sequence[str] = ("en", "fr"),
    default: str = "en",
    min_confidence: float = 0.6,
) -> str:
    """Best guess among `languages`; `default` when the text is too short to tell."""
    langs = tuple(sorted(set(languages)))
    if len(langs) == 1:
        return langs[0]
    if len(text.strip()) < 2:
        return default
    with _lock:
        lang, prob = _identifier(langs).classify(text)
    return str(lang) if prob >= min_confidence else default
