"""The purchases of a generation, streamed: they are never all in memory.

They are drawn a block of `PURCHASES_PER_BLOCK` at a time, each block from a random stream of its
own, seeded by the generation's stream and the block's number. So blocks can be drawn in any order
and by several processes side by side (`purchase_workers`), and a seed still gives the same
purchases whichever process drew them, in every format.

Money is computed in whole kopecks so that every purchase total equals the sum of its lines exactly.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from probablyfresh_dagster.generator.calendar import MOSCOW, PURCHASE_WINDOW, Record

OWN_STORE_SHARE = 0.85
"""Share of purchases made in the customer's own store; the rest go to a random store."""
MAX_LINES_PER_PURCHASE = 5
MAX_QUANTITY = 5
PURCHASES_PER_BLOCK = 10_000
"""Purchases drawn from one random stream: a worker's unit of work (about 22 MB of JSON lines)."""


@dataclass(frozen=True)
class PurchaseParts:
    """Everything purchases are assembled from, built once; a purchase only picks among them.

    A purchase line is fully determined by its product and quantity, so every possible line
    is built up front, like the customer and store excerpts, which keeps the per-purchase work
    small.
    """

    buyers: list[Record]
    """The customer excerpt of each customer."""
    home_stores: list[Record]
    """The store excerpt of each customer's own store (aligned with `buyers`)."""
    delivery_addresses: list[Record]
    """Each customer's delivery address (aligned with `buyers`)."""
    stores: list[Record]
    lines: list[list[Record]]
    """`lines[product][quantity - 1]`: a purchase line."""
    line_kopecks: list[list[int]]
    """The total of each line in kopecks (aligned with `lines`); floats are only presentation."""


def store_excerpt(store: Record) -> Record:
    return {
        "store_id": store["store_id"],
        "store_name": store["store_name"],
        "store_network": store["store_network"],
        "location": store["location"],
    }


def buyer_excerpt(customer: Record) -> Record:
    keys = (
        "customer_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "is_loyalty_member",
        "loyalty_card_number",
    )
    return {key: customer[key] for key in keys}


def purchase_line(product: Record, quantity: int) -> tuple[Record, int]:
    total_kopecks = round(product["price"] * 100) * quantity
    line = {
        "product_id": product["id"],
        "name": product["name"],
        "category": product["group"],
        "quantity": quantity,
        "unit": product["unit"],
        "price_per_unit": product["price"],
        "total_price": total_kopecks / 100,
        "kbju": product["kbju"],
        "manufacturer": product["manufacturer"],
    }
    return line, total_kopecks


def make_purchase_parts(stores: Sequence[Record], customers: Sequence[Record], products: Sequence[Record]) -> PurchaseParts:
    excerpts = {store["store_id"]: store_excerpt(store) for store in stores}
    lines = [[purchase_line(product, quantity) for quantity in range(1, MAX_QUANTITY + 1)] for product in products]
    return PurchaseParts(
        buyers=[buyer_excerpt(customer) for customer in customers],
        home_stores=[excerpts[c["purchase_location"]["store_id"]] for c in customers],
        delivery_addresses=[customer["delivery_address"] for customer in customers],
        stores=list(excerpts.values()),
        lines=[[line for line, _ in by_quantity] for by_quantity in lines],
        line_kopecks=[[kopecks for _, kopecks in by_quantity] for by_quantity in lines],
    )


@dataclass(frozen=True)
class PurchaseDraw:
    """What every block of a generation's purchases is drawn from."""

    count: int
    """Purchases in the generation, numbered from 1."""
    parts: PurchaseParts
    as_of: date
    seed: int
    """Drawn from the generation's stream; with a block's number, the seed of that block's stream."""

    @classmethod
    def of(cls, count: int, parts: PurchaseParts, rng: random.Random, as_of: date) -> PurchaseDraw:
        return cls(count, parts, as_of, rng.getrandbits(64))

    @property
    def blocks(self) -> int:
        return -(-self.count // PURCHASES_PER_BLOCK)

    def block(self, number: int) -> Iterator[Record]:
        """The purchases of block `number` (from 0), one at a time."""
        parts, rng = self.parts, random.Random(f"{self.seed}/{number}")
        window_seconds = int(PURCHASE_WINDOW.total_seconds())
        last_second = datetime.combine(self.as_of, time(23, 59, 59), MOSCOW)
        products = range(len(parts.lines))
        first = number * PURCHASES_PER_BLOCK + 1
        for purchase in range(first, min(first + PURCHASES_PER_BLOCK, self.count + 1)):
            buyer = rng.randrange(len(parts.buyers))
            own_store = rng.random() < OWN_STORE_SHARE
            store = parts.home_stores[buyer] if own_store else rng.choice(parts.stores)
            line_count = min(rng.randint(1, MAX_LINES_PER_PURCHASE), len(products))
            picks = [(p, rng.randint(1, MAX_QUANTITY) - 1) for p in rng.sample(products, line_count)]
            purchased_at = last_second - timedelta(seconds=rng.randrange(window_seconds))
            yield {
                "purchase_id": f"ord-{purchase:05d}",
                "customer": parts.buyers[buyer],
                "store": store,
                "items": [parts.lines[p][q] for p, q in picks],
                "total_amount": sum(parts.line_kopecks[p][q] for p, q in picks) / 100,
                "payment_method": rng.choice(("card", "cash")),
                "is_delivery": rng.random() < 0.3,
                "delivery_address": parts.delivery_addresses[buyer],
                "purchase_datetime": purchased_at.isoformat(),
            }


def iter_purchases(draw: PurchaseDraw) -> Iterator[Record]:
    """Yield the purchases one at a time, block after block, so that writing them needs no list of all of them."""
    for number in range(draw.blocks):
        yield from draw.block(number)
