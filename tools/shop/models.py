"""Tables of the Cedar Lane Goods demo shop: customers, orders, items, payments, refunds.

Money is stored as ``Numeric(10, 2)`` and handled as ``Decimal``; datetimes are
timezone-aware UTC on the way in and on the way out (SQLite included).
"""

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Dialect, Numeric, TypeDecorator
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field, Relationship, SQLModel


class OrderStatus(StrEnum):
    """Lifecycle of an order; cancellable while pending or paid."""

    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class ShippingMethod(StrEnum):
    """Standard (Colissimo / international parcel) or express (DHL Express)."""

    STANDARD = "standard"
    EXPRESS = "express"


class ItemCategory(StrEnum):
    """Catalogue departments."""

    HOMEWARE = "homeware"
    KITCHEN = "kitchen"
    OUTDOOR = "outdoor"
    ELECTRONICS = "electronics"
    APPAREL = "apparel"
    GIFT_CARD = "gift_card"


class PaymentMethod(StrEnum):
    """How an order was paid."""

    CARD = "card"
    PAYPAL = "paypal"
    APPLE_PAY = "apple_pay"
    GOOGLE_PAY = "google_pay"
    BANK_TRANSFER = "bank_transfer"
    GIFT_CARD = "gift_card"


class PaymentStatus(StrEnum):
    """State of one payment; ``pending`` is a bank transfer awaiting funds."""

    PENDING = "pending"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


class RefundStatus(StrEnum):
    """State of one refund; refunds above €500 wait in ``pending_approval``."""

    PENDING_APPROVAL = "pending_approval"
    ISSUED = "issued"
    REJECTED = "rejected"


PAID_PAYMENT_STATUSES: frozenset[PaymentStatus] = frozenset(
    {PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
)
"""Payment states whose amount was actually collected from the customer."""


class UTCDateTime(TypeDecorator[datetime]):
    """A DateTime that only accepts aware values and always returns them in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; pass a timezone-aware value (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _enum(enum_cls: type[StrEnum], name: str) -> SAEnum:
    """A portable VARCHAR + CHECK column storing the enum's values (not its names)."""
    return SAEnum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=24,
        values_callable=lambda cls: [member.value for member in cls],
    )


def _money(**kwargs: Any) -> Any:
    """An exact EUR amount column."""
    return Field(sa_type=Numeric(10, 2), max_digits=10, decimal_places=2, **kwargs)


def _timestamp(*, optional: bool = False) -> Any:
    """A timezone-aware UTC timestamp column."""
    if optional:
        return Field(default=None, sa_type=UTCDateTime(), nullable=True)
    return Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)


class Customer(SQLModel, table=True):
    """A shop account; ``external_id`` is the id shown to agents and channels."""

    __tablename__ = "customer"
    __table_args__ = (
        CheckConstraint("language IN ('en', 'fr')", name="ck_customer_language"),
        CheckConstraint("length(country) = 2", name="ck_customer_country"),
    )

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=32, unique=True)
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(max_length=120)
    phone: str | None = Field(default=None, max_length=32)
    language: str = Field(default="en", max_length=2)
    country: str = Field(max_length=2)
    created_at: datetime = _timestamp()

    orders: list["Order"] = Relationship(back_populates="customer")


class Order(SQLModel, table=True):
    """An order with its money totals, timeline and shipping address."""

    __tablename__ = "shop_order"
    __table_args__ = (
        CheckConstraint("number LIKE 'CL-%' AND length(number) = 9", name="ck_order_number"),
        CheckConstraint("currency = 'EUR'", name="ck_order_currency"),
        CheckConstraint("subtotal >= 0", name="ck_order_subtotal"),
        CheckConstraint("shipping_fee >= 0", name="ck_order_shipping_fee"),
        CheckConstraint("total >= 0", name="ck_order_total"),
        CheckConstraint("length(ship_country) = 2", name="ck_order_ship_country"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=9, unique=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    status: OrderStatus = Field(
        default=OrderStatus.PENDING, sa_type=_enum(OrderStatus, "ck_order_status"), index=True
    )
    currency: str = Field(default="EUR", max_length=3)
    subtotal: Decimal = _money()
    shipping_fee: Decimal = _money(default=Decimal("0.00"))
    total: Decimal = _money()
    shipping_method: ShippingMethod = Field(
        default=ShippingMethod.STANDARD, sa_type=_enum(ShippingMethod, "ck_order_shipping_method")
    )
    created_at: datetime = _timestamp()
    paid_at: datetime | None = _timestamp(optional=True)
    shipped_at: datetime | None = _timestamp(optional=True)
    delivered_at: datetime | None = _timestamp(optional=True)
    ship_name: str = Field(max_length=120)
    ship_line1: str = Field(max_length=200)
    ship_line2: str | None = Field(default=None, max_length=200)
    ship_postal_code: str = Field(max_length=16)
    ship_city: str = Field(max_length=100)
    ship_country: str = Field(max_length=2)
    carrier: str | None = Field(default=None, max_length=40)
    tracking_number: str | None = Field(default=None, max_length=40)
    note: str | None = Field(default=None, max_length=500)

    customer: Customer = Relationship(back_populates="orders")
    items: list["OrderItem"] = Relationship(back_populates="order")
    payments: list["Payment"] = Relationship(back_populates="order")
    refunds: list["Refund"] = Relationship(back_populates="order")


class OrderItem(SQLModel, table=True):
    """One order line; ``opened`` records a broken hygiene seal (earbuds, headphones)."""

    __tablename__ = "order_item"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_order_item_quantity"),
        CheckConstraint("unit_price >= 0", name="ck_order_item_unit_price"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id", index=True)
    sku: str = Field(max_length=32, index=True)
    name: str = Field(max_length=200)
    category: ItemCategory = Field(sa_type=_enum(ItemCategory, "ck_order_item_category"))
    quantity: int = Field(default=1)
    unit_price: Decimal = _money()
    final_sale: bool = Field(default=False)
    personalised: bool = Field(default=False)
    opened: bool = Field(default=False)

    order: Order = Relationship(back_populates="items")

    @property
    def line_total(self) -> Decimal:
        """Quantity times unit price."""
        return self.unit_price * self.quantity


class Payment(SQLModel, table=True):
    """A payment attempt on an order; refunds change its status, never its amount."""

    __tablename__ = "payment"
    __table_args__ = (CheckConstraint("amount >= 0", name="ck_payment_amount"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id", index=True)
    method: PaymentMethod = Field(sa_type=_enum(PaymentMethod, "ck_payment_method"))
    amount: Decimal = _money()
    status: PaymentStatus = Field(sa_type=_enum(PaymentStatus, "ck_payment_status"))
    created_at: datetime = _timestamp()

    order: Order = Relationship(back_populates="payments")


class Refund(SQLModel, table=True):
    """A refund of one item or of an amount; ``idempotency_key`` makes it exactly-once."""

    __tablename__ = "refund"
    __table_args__ = (CheckConstraint("amount > 0", name="ck_refund_amount"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="shop_order.id", index=True)
    order_item_id: int | None = Field(default=None, foreign_key="order_item.id", index=True)
    amount: Decimal = _money()
    reason: str = Field(max_length=500)
    status: RefundStatus = Field(
        default=RefundStatus.PENDING_APPROVAL, sa_type=_enum(RefundStatus, "ck_refund_status")
    )
    idempotency_key: str = Field(max_length=128, unique=True)
    created_at: datetime = _timestamp()

    order: Order = Relationship(back_populates="refunds")
