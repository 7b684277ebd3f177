"""Deterministic demo data for the Cedar Lane Goods shop database.

``seed_demo_shop`` fills an empty database with customers, a product catalogue's worth
of orders and the edge cases the support flows are tested against. Every date is
relative to ``today`` so that "delivered 5 days ago" stays true whenever the demo runs.
``SCENARIO_ORDERS`` maps each edge case to its order number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Final

from sqlmodel import Session, select

from tools.shop.models import (
    Customer,
    ItemCategory,
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundStatus,
    ShippingMethod,
)

ZERO: Final = Decimal("0.00")
EU_COUNTRIES: Final = frozenset({"BE", "DE", "ES"})
DUTIES_COUNTRIES: Final = frozenset({"GB", "CH"})
DUTIES_NOTE: Final = (
    "Shipped outside the EU: import duties and VAT are paid by the customer on delivery."
)


@dataclass(frozen=True)
class SeedSummary:
    """What one ``seed_demo_shop`` call inserted (all zero when the shop was already seeded)."""

    seeded: bool
    customers: int = 0
    orders: int = 0
    order_items: int = 0
    payments: int = 0
    refunds: int = 0


@dataclass(frozen=True)
class Product:
    """A catalogue entry."""

    sku: str
    name: str
    category: ItemCategory
    price: Decimal
    final_sale: bool = False
    personalised: bool = False


def _p(
    sku: str,
    name: str,
    category: ItemCategory,
    price: str,
    *,
    final_sale: bool = False,
    personalised: bool = False,
) -> Product:
    return Product(sku, name, category, Decimal(price), final_sale, personalised)


_H, _K, _O, _E, _A, _G = (
    ItemCategory.HOMEWARE,
    ItemCategory.KITCHEN,
    ItemCategory.OUTDOOR,
    ItemCategory.ELECTRONICS,
    ItemCategory.APPAREL,
    ItemCategory.GIFT_CARD,
)

CATALOGUE: Final[tuple[Product, ...]] = (
    _p("HW-DUV-240", "Linen duvet cover 240x220", _H, "119.00"),
    _p("HW-PIL-50", "Linen pillowcases 50x75 (pair)", _H, "39.00"),
    _p("HW-THR-WL", "Wool throw blanket 130x170", _H, "69.00"),
    _p("HW-CAN-CD", "Cedarwood scented candle", _H, "19.50"),
    _p("HW-LMP-OAK", "Oak table lamp", _H, "89.00"),
    _p("HW-TBL-OAK", "Solid oak dining table 180 cm", _H, "890.00"),
    _p("HW-RUG-FS", "Jute rug 160x230 (Final sale)", _H, "99.00", final_sale=True),
    _p("KT-CAS-28", "Enamel cast-iron casserole 28 cm", _K, "149.00"),
    _p("KT-KNF-20", "Chef's knife 20 cm", _K, "64.00"),
    _p("KT-MUG-4", "Stoneware mugs (set of 4)", _K, "32.00"),
    _p("KT-ESP-6", "Stovetop espresso maker 6 cups", _K, "38.50"),
    _p("KT-CFE-GR", "Burr coffee grinder", _K, "119.00"),
    _p("KT-TWL-3", "Waffle tea towels (set of 3)", _K, "18.00"),
    _p("KT-BRD-ENG", "Engraved oak chopping board", _K, "45.00", personalised=True),
    _p("OD-DRL-18", "Cedar Pro cordless drill 18V", _O, "129.00"),
    _p("OD-SAW-MT", "Cedar Pro mitre saw 254 mm", _O, "549.00"),
    _p("OD-TNT-2P", "Trail 2-person tent", _O, "229.00"),
    _p("OD-SLB-3S", "Three-season sleeping bag", _O, "119.00"),
    _p("OD-LAN-LED", "Rechargeable LED lantern", _O, "34.90"),
    _p("OD-BBQ-57", "Kettle charcoal barbecue 57 cm", _O, "189.00"),
    _p("OD-CHR-FLD", "Folding camp chair", _O, "44.00"),
    _p("EL-EAR-A2", "Wireless earbuds Airo 2", _E, "79.00"),
    _p("EL-HPH-AM", "Noise-cancelling headphones Airo Max", _E, "249.00"),
    _p("EL-PWB-20K", "Power bank 20,000 mAh", _E, "49.90"),
    _p("EL-CBL-USC", "USB-C braided cable 2 m", _E, "12.90"),
    _p("EL-CHG-65W", "65 W GaN charger", _E, "39.90"),
    _p("AP-JKT-RN", "Waterproof rain jacket", _A, "139.00"),
    _p("AP-SWT-MR", "Merino crew-neck jumper", _A, "89.00"),
    _p("AP-SCK-WL", "Wool hiking socks (2 pairs)", _A, "24.00"),
    _p("AP-TSH-ORG", "Organic cotton T-shirt", _A, "25.00"),
    _p("AP-APR-ENG", "Personalised embroidered apron", _A, "42.00", personalised=True),
    _p("AP-CAP-FS", "Waxed canvas cap (Final sale)", _A, "19.00", final_sale=True),
    _p("GC-050", "Gift card €50", _G, "50.00"),
    _p("GC-100", "Gift card €100", _G, "100.00"),
)
PRODUCTS: Final[Mapping[str, Product]] = {p.sku: p for p in CATALOGUE}


@dataclass(frozen=True)
class _CustomerSpec:
    external_id: str
    name: str
    email: str
    language: str
    country: str
    phone: str | None
    line1: str
    postal_code: str
    city: str
    line2: str | None = None


# fmt: off
CUSTOMERS: Final[tuple[_CustomerSpec, ...]] = (
    _CustomerSpec("cus_001", "Camille Martin", "camille.martin@example.fr", "fr", "FR",
                  "+33 6 12 40 10 01", "14 rue des Tilleuls", "69003", "Lyon"),
    _CustomerSpec("cus_002", "Thomas Bernard", "thomas.bernard@example.fr", "fr", "FR",
                  "+33 6 12 40 10 02", "8 boulevard Voltaire", "75011", "Paris", "Bâtiment B"),
    _CustomerSpec("cus_003", "Emma Wilson", "emma.wilson@example.com", "en", "GB",
                  "+44 7700 900101", "22 Mare Street", "E8 3PN", "London"),
    _CustomerSpec("cus_004", "Lucas Dubois", "lucas.dubois@example.fr", "fr", "FR",
                  None, "3 cours de l'Intendance", "33000", "Bordeaux"),
    _CustomerSpec("cus_005", "Sophie Laurent", "sophie.laurent@example.fr", "fr", "BE",
                  "+32 470 12 34 05", "27 rue du Bailli", "1050", "Bruxelles"),
    _CustomerSpec("cus_006", "Oliver Smith", "oliver.smith@example.com", "en", "GB",
                  "+44 7700 900106", "5 Piccadilly Place", "M1 3BR", "Manchester", "Flat 12"),
    _CustomerSpec("cus_007", "Léa Moreau", "lea.moreau@example.fr", "fr", "FR",
                  "+33 6 12 40 10 07", "41 rue Paradis", "13006", "Marseille"),
    _CustomerSpec("cus_008", "Hannah Schneider", "hannah.schneider@example.com", "en", "DE",
                  "+49 151 2345 0108", "Invalidenstraße 19", "10115", "Berlin"),
    _CustomerSpec("cus_009", "Julien Lefèvre", "julien.lefevre@example.fr", "fr", "CH",
                  "+41 79 123 45 09", "12 rue de Carouge", "1205", "Genève"),
    _CustomerSpec("cus_010", "Isabel García", "isabel.garcia@example.com", "en", "ES",
                  None, "Carrer de Mallorca 210", "08008", "Barcelona"),
    _CustomerSpec("cus_011", "Chloé Girard", "chloe.girard@example.fr", "fr", "FR",
                  "+33 6 12 40 10 11", "9 quai de la Fosse", "44000", "Nantes"),
    _CustomerSpec("cus_012", "James Taylor", "james.taylor@example.com", "en", "GB",
                  "+44 7700 900112", "18 Rose Street", "EH2 2PR", "Edinburgh"),
    _CustomerSpec("cus_013", "Manon Rousseau", "manon.rousseau@example.fr", "fr", "FR",
                  "+33 6 12 40 10 13", "56 rue Nationale", "59000", "Lille"),
    _CustomerSpec("cus_014", "Maximilian Weber", "max.weber@example.com", "en", "DE",
                  "+49 151 2345 0114", "Sendlinger Straße 7", "80331", "München"),
    _CustomerSpec("cus_015", "Nathalie Peeters", "nathalie.peeters@example.fr", "fr", "BE",
                  None, "15 rue Saint-Gilles", "4000", "Liège"),
    _CustomerSpec("cus_016", "Amelia Brown", "amelia.brown@example.com", "en", "FR",
                  "+33 6 12 40 10 16", "21 rue d'Alsace-Lorraine", "31000", "Toulouse"),
    _CustomerSpec("cus_017", "Hugo Fontaine", "hugo.fontaine@example.fr", "fr", "FR",
                  "+33 6 12 40 10 17", "2 place Grenette", "38000", "Grenoble"),
    _CustomerSpec("cus_018", "Lukas Meyer", "lukas.meyer@example.com", "en", "CH",
                  "+41 79 123 45 18", "Langstrasse 64", "8004", "Zürich"),
    _CustomerSpec("cus_019", "Pablo Martínez", "pablo.martinez@example.com", "en", "ES",
                  "+34 612 345 019", "Calle de Alcalá 95", "28009", "Madrid"),
    _CustomerSpec("cus_020", "Inès Mercier", "ines.mercier@example.fr", "fr", "FR",
                  "+33 6 12 40 10 20", "11 rue Saint-Malo", "35000", "Rennes"),
    _CustomerSpec("cus_021", "Charlotte Davies", "charlotte.davies@example.com", "en", "FR",
                  "+33 6 12 40 10 21", "30 rue Oberkampf", "75011", "Paris"),
    _CustomerSpec("cus_022", "Antoine Lambert", "antoine.lambert@example.fr", "fr", "BE",
                  "+32 470 12 34 22", "4 rue de Fer", "5000", "Namur"),
    _CustomerSpec("cus_023", "Sarah Klein", "sarah.klein@example.com", "en", "DE",
                  None, "Schanzenstraße 33", "20357", "Hamburg"),
    _CustomerSpec("cus_024", "Élodie Chevalier", "elodie.chevalier@example.fr", "fr", "CH",
                  "+41 79 123 45 24", "8 avenue d'Ouchy", "1006", "Lausanne"),
)
# fmt: on
CUSTOMERS_BY_ID: Final[Mapping[str, _CustomerSpec]] = {c.external_id: c for c in CUSTOMERS}


@dataclass(frozen=True)
class _Line:
    sku: str
    quantity: int = 1
    opened: bool = False


@dataclass(frozen=True)
class _RefundSpec:
    reason: str
    status: RefundStatus = RefundStatus.ISSUED
    sku: str | None = None
    amount: Decimal | None = None
    days_after: int = 1
    """Refunds ``sku``'s line, else ``amount``, else the whole order total."""


@dataclass(frozen=True)
class _OrderSpec:
    number: str
    scenario: str | None
    customer: str
    lines: tuple[_Line, ...]
    status: OrderStatus
    days_ago: int
    method: PaymentMethod = PaymentMethod.CARD
    express: bool = False
    refunds: tuple[_RefundSpec, ...] = ()
    failed_attempt_first: bool = False


def _lines(*items: str | _Line) -> tuple[_Line, ...]:
    return tuple(_Line(i) if isinstance(i, str) else i for i in items)


_D, _S, _P, _N, _C = (
    OrderStatus.DELIVERED,
    OrderStatus.SHIPPED,
    OrderStatus.PAID,
    OrderStatus.PENDING,
    OrderStatus.CANCELLED,
)

# fmt: off
_SCENARIOS: Final[tuple[_OrderSpec, ...]] = (
    _OrderSpec("CL-100101", "delivered_5_days_ago_refundable", "cus_001",
               _lines("HW-DUV-240", "HW-PIL-50"), _D, 5),
    _OrderSpec("CL-100102", "delivered_45_days_ago_outside_window", "cus_002",
               _lines("KT-CAS-28"), _D, 45),
    _OrderSpec("CL-100103", "delivered_30_days_ago_boundary", "cus_004",
               _lines("HW-THR-WL"), _D, 30),
    _OrderSpec("CL-100104", "delivered_31_days_ago_just_outside", "cus_011",
               _lines(_Line("OD-CHR-FLD", 2)), _D, 31),
    _OrderSpec("CL-100105", "final_sale_item", "cus_007",
               _lines("HW-RUG-FS", "HW-CAN-CD"), _D, 6),
    _OrderSpec("CL-100106", "gift_card_order", "cus_011",
               _lines("GC-100"), _D, 4),
    _OrderSpec("CL-100107", "personalised_item", "cus_013",
               _lines("KT-BRD-ENG"), _D, 7),
    _OrderSpec("CL-100108", "opened_earbuds", "cus_017",
               _lines(_Line("EL-EAR-A2", opened=True)), _D, 8),
    _OrderSpec("CL-100109", "partially_refunded", "cus_020",
               _lines("AP-SWT-MR", "AP-JKT-RN", "AP-SCK-WL"), _D, 12,
               refunds=(_RefundSpec("Returned unworn: too small", sku="AP-SWT-MR",
                                    days_after=6),)),
    _OrderSpec("CL-100110", "fully_refunded", "cus_005",
               _lines("KT-KNF-20", "KT-MUG-4"), _D, 15,
               refunds=(_RefundSpec("Parcel arrived crushed, mugs broken: full refund incl. "
                                    "shipping", days_after=2),)),
    _OrderSpec("CL-100111", "high_value_over_500", "cus_008",
               _lines("OD-SAW-MT", "OD-DRL-18"), _D, 9),
    _OrderSpec("CL-100112", "same_customer_daily_limit_1", "cus_021",
               _lines("OD-TNT-2P", "OD-SLB-3S", "OD-LAN-LED"), _D, 3),
    _OrderSpec("CL-100113", "same_customer_daily_limit_2", "cus_021",
               _lines("KT-CFE-GR", "KT-CAS-28", "KT-KNF-20", "KT-MUG-4"), _D, 4),
    _OrderSpec("CL-100114", "same_customer_daily_limit_3", "cus_021",
               _lines("AP-JKT-RN", _Line("AP-SWT-MR", 2), "HW-LMP-OAK"), _D, 2),
    _OrderSpec("CL-100115", "pending_bank_transfer", "cus_010",
               _lines("HW-LMP-OAK", "HW-CAN-CD"), _N, 2, method=PaymentMethod.BANK_TRANSFER),
    _OrderSpec("CL-100116", "failed_payment", "cus_015",
               _lines("AP-JKT-RN"), _N, 1),
    _OrderSpec("CL-100117", "shipped_not_delivered", "cus_002",
               _lines("KT-CFE-GR"), _S, 1),
    _OrderSpec("CL-100118", "paid_not_shipped", "cus_001",
               _lines("OD-BBQ-57", "OD-CHR-FLD"), _P, 1),
    _OrderSpec("CL-100119", "cancelled_order", "cus_007",
               _lines("AP-SWT-MR"), _C, 20),
    _OrderSpec("CL-100120", "cancelled_unpaid_bank_transfer", "cus_023",
               _lines("OD-SLB-3S"), _C, 12, method=PaymentMethod.BANK_TRANSFER),
    _OrderSpec("CL-100121", "multi_item_mixed_categories", "cus_016",
               _lines("HW-LMP-OAK", "KT-KNF-20", "OD-LAN-LED", _Line("EL-CBL-USC", 2),
                      "AP-TSH-ORG"), _D, 10),
    _OrderSpec("CL-100122", "uk_order_duties", "cus_006",
               _lines("AP-JKT-RN", "AP-SCK-WL"), _D, 11),
    _OrderSpec("CL-100123", "switzerland_order_duties", "cus_009",
               _lines("AP-SWT-MR"), _D, 14),
    _OrderSpec("CL-100124", "express_shipping_france", "cus_013",
               _lines("EL-PWB-20K", "EL-CHG-65W"), _D, 1, express=True),
    _OrderSpec("CL-100125", "shipped_no_tracking_update_14_days", "cus_017",
               _lines("HW-LMP-OAK"), _S, 14),
    _OrderSpec("CL-100126", "refund_pending_approval", "cus_022",
               _lines("HW-TBL-OAK"), _D, 10,
               refunds=(_RefundSpec("Table top cracked on arrival", RefundStatus.PENDING_APPROVAL,
                                    sku="HW-TBL-OAK", days_after=3),)),
    _OrderSpec("CL-100127", "refund_rejected_final_sale", "cus_019",
               _lines("AP-CAP-FS", _Line("AP-TSH-ORG", 2)), _D, 9,
               refunds=(_RefundSpec("Changed mind about the cap", RefundStatus.REJECTED,
                                    sku="AP-CAP-FS", days_after=2),)),
    _OrderSpec("CL-100128", "delivered_2_days_ago_item_under_20", "cus_024",
               _lines("HW-CAN-CD", "KT-MUG-4"), _D, 2),
    _OrderSpec("CL-100129", "payment_retried_after_failure", "cus_018",
               _lines("EL-HPH-AM"), _D, 20, method=PaymentMethod.PAYPAL,
               failed_attempt_first=True),
    _OrderSpec("CL-100130", "paid_not_shipped_paypal", "cus_003",
               _lines("HW-PIL-50", "KT-ESP-6"), _P, 1, method=PaymentMethod.PAYPAL),
    _OrderSpec("CL-100131", "paid_with_gift_card", "cus_004",
               _lines("KT-ESP-6", "KT-TWL-3"), _D, 6, method=PaymentMethod.GIFT_CARD),
    _OrderSpec("CL-100132", "high_value_over_1000", "cus_014",
               _lines("OD-TNT-2P", _Line("OD-SLB-3S", 2), "HW-TBL-OAK"), _D, 3),
)
# fmt: on

SCENARIO_ORDERS: Final[Mapping[str, str]] = {
    spec.scenario: spec.number for spec in _SCENARIOS if spec.scenario is not None
}
"""Edge case name -> order number, for tests and demos that need a specific situation."""

_FILLER_SKUS: Final[tuple[str, ...]] = tuple(
    p.sku
    for p in CATALOGUE
    if not (p.final_sale or p.personalised or p.category is ItemCategory.GIFT_CARD)
    and p.price < Decimal("300")
    and p.sku not in {"EL-EAR-A2", "EL-HPH-AM"}
)
_FILLER_STATUSES: Final = (_D, _D, _D, _S, _D, _D, _P, _D, _C)
_FILLER_METHODS: Final = (
    PaymentMethod.CARD,
    PaymentMethod.CARD,
    PaymentMethod.PAYPAL,
    PaymentMethod.APPLE_PAY,
    PaymentMethod.GOOGLE_PAY,
    PaymentMethod.CARD,
    PaymentMethod.PAYPAL,
)
_FILLER_COUNT: Final = 36


def _filler_specs(today: date) -> list[_OrderSpec]:
    """Ordinary order history (nothing in the return window), numbered by creation date."""
    specs: list[_OrderSpec] = []
    for i in range(_FILLER_COUNT):
        status = _FILLER_STATUSES[i % len(_FILLER_STATUSES)]
        days_ago = {_D: 35 + (i * 17) % 280, _S: 1 + i % 2, _P: 1, _C: 40 + i}[status]
        skus: dict[str, int] = {}
        for k in range(1 + i % 3):
            sku = _FILLER_SKUS[(i * 5 + k * 7 + (i // 12) * 3) % len(_FILLER_SKUS)]
            skus.setdefault(sku, 2 if (i + k) % 4 == 0 else 1)
        specs.append(
            _OrderSpec(
                number="",
                scenario=None,
                customer=CUSTOMERS[(i * 7) % len(CUSTOMERS)].external_id,
                lines=tuple(_Line(sku, qty) for sku, qty in skus.items()),
                status=status,
                days_ago=days_ago,
                method=_FILLER_METHODS[i % len(_FILLER_METHODS)],
            )
        )
    countries = {c.external_id: c.country for c in CUSTOMERS}
    specs.sort(key=lambda s: _timeline(s, countries[s.customer], today)[0])
    return [replace(s, number=f"CL-{100001 + n:06d}") for n, s in enumerate(specs)]


def _shipping_fee(country: str, subtotal: Decimal, method: ShippingMethod) -> Decimal:
    """Shipping fee per the store's published rules."""
    if country == "FR":
        if method is ShippingMethod.EXPRESS:
            return Decimal("12.90")
        return ZERO if subtotal >= Decimal("50") else Decimal("4.90")
    if country in EU_COUNTRIES:
        return ZERO if subtotal >= Decimal("120") else Decimal("9.90")
    return Decimal("19.90")


def _carrier(country: str, method: ShippingMethod, number: str) -> tuple[str, str]:
    """Carrier name and a deterministic tracking number in that carrier's style."""
    digits = number.removeprefix("CL-")
    if method is ShippingMethod.EXPRESS:
        return "DHL Express", f"37{digits}51"
    if country == "FR":
        return "Colissimo", f"6A{digits}40871"
    return "DHL Parcel", f"JJD0149{digits}2207"


def _at(today: date, days_ago: int, hour: int, minute: int) -> datetime:
    return datetime.combine(today - timedelta(days=days_ago), time(hour, minute), tzinfo=UTC)


def _timeline(
    spec: _OrderSpec, country: str, today: date
) -> tuple[datetime, datetime | None, datetime | None, datetime | None]:
    """(created, paid, shipped, delivered) for an order, anchored on ``spec.days_ago``."""
    jitter = sum(ord(ch) for ch in spec.customer) + len(spec.lines) * 7 + spec.days_ago
    if spec.express:
        transit = 1
    elif country == "FR":
        transit = 2
    elif country in EU_COUNTRIES:
        transit = 4
    else:
        transit = 6
    bank_transfer = spec.method is PaymentMethod.BANK_TRANSFER
    lead = 2 if bank_transfer else 1
    delivered = shipped = None
    if spec.status is OrderStatus.DELIVERED:
        delivered = _at(today, spec.days_ago, 9 + jitter % 9, (jitter * 7) % 60)
        shipped = _at(today, spec.days_ago + transit, 15 + jitter % 3, (jitter * 11) % 60)
        created = _at(today, spec.days_ago + transit + lead, 7 + jitter % 14, (jitter * 13) % 60)
    elif spec.status is OrderStatus.SHIPPED:
        shipped = _at(today, spec.days_ago, 15 + jitter % 3, (jitter * 11) % 60)
        created = _at(today, spec.days_ago + lead, 7 + jitter % 14, (jitter * 13) % 60)
    else:
        created = _at(today, spec.days_ago, 7 + jitter % 14, (jitter * 13) % 60)
    paid: datetime | None = None
    if spec.status is not OrderStatus.PENDING and not (
        spec.status is OrderStatus.CANCELLED and bank_transfer
    ):
        paid = created + (timedelta(days=1) if bank_transfer else timedelta(minutes=2))
        if spec.failed_attempt_first:
            paid += timedelta(minutes=20)
    return created, paid, shipped, delivered


def seed_demo_shop(session: Session, *, today: date | None = None) -> SeedSummary:
    """Insert the demo shop unless customers already exist; the caller commits."""
    if session.exec(select(Customer.id).limit(1)).first() is not None:
        return SeedSummary(seeded=False)
    today = today or date.today()

    customers: dict[str, Customer] = {}
    for n, c in enumerate(CUSTOMERS):
        customers[c.external_id] = Customer(
            external_id=c.external_id,
            email=c.email,
            name=c.name,
            phone=c.phone,
            language=c.language,
            country=c.country,
            created_at=_at(today, 500 - n * 3, 9 + n % 9, (n * 11) % 60),
        )
    session.add_all(customers.values())
    session.flush()

    orders = items = payments = refunds = 0
    for spec in (*_filler_specs(today), *_SCENARIOS):
        added = _insert_order(session, spec, customers[spec.customer], today)
        orders += 1
        items += added[0]
        payments += added[1]
        refunds += added[2]
    return SeedSummary(
        seeded=True,
        customers=len(customers),
        orders=orders,
        order_items=items,
        payments=payments,
        refunds=refunds,
    )


def _insert_order(
    session: Session, spec: _OrderSpec, customer: Customer, today: date
) -> tuple[int, int, int]:
    """Insert one order with its items, payments and refunds; return their row counts."""
    assert customer.id is not None
    cspec = CUSTOMERS_BY_ID[spec.customer]
    method = ShippingMethod.EXPRESS if spec.express else ShippingMethod.STANDARD
    products = [(PRODUCTS[line.sku], line) for line in spec.lines]
    subtotal = sum((p.price * line.quantity for p, line in products), ZERO)
    fee = _shipping_fee(cspec.country, subtotal, method)
    total = subtotal + fee
    created, paid, shipped, delivered = _timeline(spec, cspec.country, today)
    carrier = tracking = None
    if shipped is not None:
        carrier, tracking = _carrier(cspec.country, method, spec.number)

    order = Order(
        number=spec.number,
        customer_id=customer.id,
        status=spec.status,
        currency="EUR",
        subtotal=subtotal,
        shipping_fee=fee,
        total=total,
        shipping_method=method,
        created_at=created,
        paid_at=paid,
        shipped_at=shipped,
        delivered_at=delivered,
        ship_name=cspec.name,
        ship_line1=cspec.line1,
        ship_line2=cspec.line2,
        ship_postal_code=cspec.postal_code,
        ship_city=cspec.city,
        ship_country=cspec.country,
        carrier=carrier,
        tracking_number=tracking,
        note=DUTIES_NOTE if cspec.country in DUTIES_COUNTRIES else None,
    )
    session.add(order)
    session.flush()
    assert order.id is not None

    items = {
        p.sku: OrderItem(
            order_id=order.id,
            sku=p.sku,
            name=p.name,
            category=p.category,
            quantity=line.quantity,
            unit_price=p.price,
            final_sale=p.final_sale,
            personalised=p.personalised,
            opened=line.opened,
        )
        for p, line in products
    }
    session.add_all(items.values())
    session.flush()

    refund_specs = list(spec.refunds)
    if spec.status is OrderStatus.CANCELLED and paid is not None:
        refund_specs.append(
            _RefundSpec("Order cancelled by the customer before shipping", days_after=0)
        )
    refunds: list[Refund] = []
    anchor = delivered or created
    for k, r in enumerate(refund_specs, start=1):
        if r.sku is not None:
            amount, item_id = items[r.sku].line_total, items[r.sku].id
        else:
            amount, item_id = r.amount or total, None
        refunds.append(
            Refund(
                order_id=order.id,
                order_item_id=item_id,
                amount=amount,
                reason=r.reason,
                status=r.status,
                idempotency_key=f"seed:{spec.number}:{k}",
                created_at=anchor + timedelta(days=r.days_after, hours=3),
            )
        )

    payments: list[Payment] = []
    if spec.failed_attempt_first:
        payments.append(
            Payment(
                order_id=order.id,
                method=PaymentMethod.CARD,
                amount=total,
                status=PaymentStatus.FAILED,
                created_at=created,
            )
        )
    if spec.status is OrderStatus.PENDING:
        status = (
            PaymentStatus.PENDING
            if spec.method is PaymentMethod.BANK_TRANSFER
            else PaymentStatus.FAILED
        )
    elif paid is None:
        status = PaymentStatus.FAILED
    else:
        refunded = sum((r.amount for r in refunds if r.status is RefundStatus.ISSUED), ZERO)
        if refunded >= total:
            status = PaymentStatus.REFUNDED
        elif refunded > 0:
            status = PaymentStatus.PARTIALLY_REFUNDED
        else:
            status = PaymentStatus.CAPTURED
    payments.append(
        Payment(
            order_id=order.id,
            method=spec.method,
            amount=total,
            status=status,
            created_at=paid or created,
        )
    )
    session.add_all([*payments, *refunds])
    session.flush()
    return len(items), len(payments), len(refunds)
