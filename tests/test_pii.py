"""PII masking keeps logs and LLM prompts free of contact and payment data."""

from __future__ import annotations

import logging

import pytest

from agents.pii import PiiLogFilter, iban_ok, luhn_ok, mask_pii


@pytest.mark.parametrize(
    ("text", "masked", "kind"),
    [
        ("write to jane.doe@example.com please", "write to [EMAIL] please", "EMAIL"),
        ("my card 4111 1111 1111 1111 was charged", "my card [CARD] was charged", "CARD"),
        ("IBAN FR76 3000 6000 0112 3456 7890 189 for the refund",
         "IBAN [IBAN] for the refund", "IBAN"),
        ("call me on +33 6 12 34 56 78", "call me on [PHONE]", "PHONE"),
        ("appelez le 06.12.34.56.78", "appelez le [PHONE]", "PHONE"),
        ("ship it to 12 rue de la Paix, 75002 Paris", "ship it to [ADDRESS], 75002 Paris",
         "ADDRESS"),
        ("deliver to 221B Baker Street, London", "deliver to [ADDRESS], London", "ADDRESS"),
    ],
)
def test_pii_is_replaced_by_a_typed_placeholder(text: str, masked: str, kind: str) -> None:
    result = mask_pii(text)
    assert result.text == masked and result.found[kind] == 1


@pytest.mark.parametrize(
    "text",
    ["order CL-100123 is late", "it cost 1299.00 EUR", "card 4111 1111 1111 1112 (typo)",
     "delivered on 2026-11-20", "a 28-pouch box for 45 euros",
     "chunk bc85bfa7-4927-4830-ab5d-927710789305", "key refund-927710789305"],
)
def test_order_numbers_amounts_dates_and_invalid_numbers_are_kept(text: str) -> None:
    assert mask_pii(text).text == text


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("FR7630006000011234567890189") and not iban_ok("FR7630006000011234567890188")


def test_the_log_filter_masks_messages(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("supportgraph.test.pii")
    logger.addFilter(PiiLogFilter())
    with caplog.at_level(logging.INFO, logger="supportgraph.test.pii"):
        logger.info("customer %s paid with %s", "jane@example.com", "4111111111111111")
    assert "jane@example.com" not in caplog.text and "4111" not in caplog.text
    assert "[EMAIL]" in caplog.text and "[CARD]" in caplog.text
