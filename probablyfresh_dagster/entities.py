"""The entity registry: everything that differs between stores, products, customers and purchases.

Assets, checks, sensors and SQL are built from this table, never copied per entity.
"""

from __future__ import annotations

from dataclasses import dataclass

PiiPath = tuple[str, ...]


@dataclass(frozen=True)
class Entity:
    name: str
    """Folder under the data root, MongoDB collection, Kafka topic and table prefix."""
    key: str
    """The natural key field of a source document."""
    pii: tuple[PiiPath, ...] = ()
    """Paths to the phone and email fields that are normalized and encrypted before Kafka."""
    marts: tuple[str, ...] = ()
    """The MART tables built from this entity's RAW table (the first one is keyed by `key`)."""

    def asset(self, stage: str) -> str:
        """The asset name of a stage: `json_files`, `mongo_collection`, `kafka_topic`, …"""
        return f"{self.name}_{stage}"

    @property
    def raw_table(self) -> str:
        return f"{self.name}_raw"

    @property
    def mart_table(self) -> str:
        return self.marts[0]


STORES = Entity(
    "stores", "store_id", pii=(("manager", "phone"), ("manager", "email")), marts=("stores_mart",)
)
PRODUCTS = Entity("products", "id", marts=("products_mart",))
CUSTOMERS = Entity(
    "customers", "customer_id", pii=(("phone",), ("email",)), marts=("customers_mart",)
)
PURCHASES = Entity(
    "purchases",
    "purchase_id",
    pii=(("customer", "phone"), ("customer", "email")),
    marts=("purchases_mart", "purchase_items_mart"),
)

ENTITIES: tuple[Entity, ...] = (STORES, PRODUCTS, CUSTOMERS, PURCHASES)
BY_NAME = {entity.name: entity for entity in ENTITIES}
