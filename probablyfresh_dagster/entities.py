"""The entity registry: everything that differs between stores, products, customers and purchases.

Assets, checks, sensors and SQL are built from this table, never copied per entity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

from probablyfresh_dagster.schema import (
    MAX_AMOUNT,
    MIN_AMOUNT,
    OLDEST_BIRTH_DATE,
    Date,
    DateTime,
    Flag,
    ListOf,
    Number,
    Record,
    Text,
)


class Stage(StrEnum):
    """An entity's stages in order, each an asset built from the one before it."""

    JSON_FILES = "json_files"
    MONGO_COLLECTION = "mongo_collection"
    KAFKA_TOPIC = "kafka_topic"
    CLICKHOUSE_RAW = "clickhouse_raw"
    MART = "mart"


LOAD_STAGES = tuple(Stage)[1:]
"""What a load of an entity materializes: every stage after its files."""
CLICKHOUSE_STAGES = (Stage.CLICKHOUSE_RAW, Stage.MART)


@dataclass(frozen=True)
class Entity:
    name: str
    """Folder under the data root, MongoDB collection, Kafka topic and table prefix."""
    key: str
    """The natural key field of a source document."""
    pii: tuple[str, ...] = ()
    """The source documents' personal fields (dotted paths): the defaults of `Expectations.pii_fields`."""
    marts: tuple[str, ...] = ()
    """The MART tables built from this entity's RAW table: the first holds one row per key, the
    key's winner; a second holds the winner's lines (a purchase's items: the `_lines` its checked
    view types, see `mart_load.load`)."""
    schema: Record = field(kw_only=True)
    """What a source document must hold to reach the MART (see `schema`), checked on landing."""
    mart_key: str = field(default="", kw_only=True)
    """The natural key's column in the MART tables; `key` unless named otherwise there."""

    def __post_init__(self) -> None:
        if not self.mart_key:
            object.__setattr__(self, "mart_key", self.key)

    def asset_name(self, stage: Stage) -> str:
        """The name of the entity's asset at `stage`, as the UI, the steps and `dagster asset` show it."""
        return f"{self.name}_{stage}"

    def asset_key(self, stage: Stage) -> dg.AssetKey:
        # Dagster imported here: the landing rules read the registry and load without it.
        import dagster as dg

        return dg.AssetKey(self.asset_name(stage))

    @property
    def raw_table(self) -> str:
        return f"{self.name}_raw"

    @property
    def mart_table(self) -> str:
        return self.marts[0]


# The schemas list exactly what the MART reads, typed as it reads it, plus the personal fields
# (which must be strings to be normalized); other fields pass as they are. Ids and names are
# required and non-blank, as are the store network and the product group: the business checks
# count by them, so a blank one would surface as a miscount far from its file.
NON_BLANK = Text(required=True)
TEXT, FLAG, NUMBER = Text(), Flag(), Number()
AMOUNT = Number(required=True, minimum=MIN_AMOUNT, maximum=MAX_AMOUNT)
"""Money: at least a cent, and what the MART's `Decimal(12, 2)` holds."""
CONTACTS = {"phone": TEXT, "email": TEXT}
UPDATED_AT = DateTime()
"""When the record's version was made (optional, in any entity): of a key's versions, the MART keeps
the one with the latest (README, "One winner per key")."""
ADDRESS = {"city": TEXT, "street": TEXT, "house": TEXT, "postal_code": TEXT}

STORES = Entity(
    "stores",
    "store_id",
    pii=("manager.phone", "manager.email"),
    marts=("stores_mart",),
    schema=Record(
        {
            "store_id": NON_BLANK,
            "store_name": NON_BLANK,
            "store_network": NON_BLANK,
            "store_type_description": TEXT,
            "type": TEXT,
            "categories": ListOf(TEXT),
            "manager": Record({"name": TEXT, **CONTACTS}),
            "location": Record(
                {
                    **ADDRESS,
                    "country": TEXT,
                    "coordinates": Record({"latitude": NUMBER, "longitude": NUMBER}),
                }
            ),
            "accepts_online_orders": FLAG,
            "delivery_available": FLAG,
            "warehouse_connected": FLAG,
            "last_inventory_date": Date(required=True),
            "updated_at": UPDATED_AT,
        }
    ),
)
PRODUCTS = Entity(
    "products",
    "id",
    marts=("products_mart",),
    mart_key="product_id",
    schema=Record(
        {
            "id": NON_BLANK,
            "name": NON_BLANK,
            "group": NON_BLANK,
            "description": TEXT,
            "kbju": Record({"calories": NUMBER, "protein": NUMBER, "fat": NUMBER, "carbohydrates": NUMBER}),
            "price": AMOUNT,
            "unit": TEXT,
            "origin_country": TEXT,
            "expiry_days": Number(integer=True, minimum=0, maximum=65_535),  # the MART's UInt16
            "is_organic": FLAG,
            "barcode": TEXT,
            "manufacturer": Record({"name": TEXT, "country": TEXT, "website": TEXT, "inn": TEXT}),
            "updated_at": UPDATED_AT,
        }
    ),
)
CUSTOMERS = Entity(
    "customers",
    "customer_id",
    pii=("phone", "email"),
    marts=("customers_mart",),
    schema=Record(
        {
            "customer_id": NON_BLANK,
            "first_name": NON_BLANK,
            "last_name": NON_BLANK,
            **CONTACTS,
            "birth_date": Date(required=True, since=OLDEST_BIRTH_DATE),
            "gender": TEXT,
            "registration_date": DateTime(required=True),
            "is_loyalty_member": FLAG,
            "loyalty_card_number": TEXT,
            "purchase_location": Record({"store_id": TEXT, **ADDRESS}),
            "delivery_address": Record({**ADDRESS, "apartment": TEXT}),
            "preferences": Record({"preferred_language": TEXT, "preferred_payment_method": TEXT, "receive_promotions": FLAG}),
            "updated_at": UPDATED_AT,
        }
    ),
)
PURCHASES = Entity(
    "purchases",
    "purchase_id",
    pii=("customer.phone", "customer.email"),
    marts=("purchases_mart", "purchase_items_mart"),
    schema=Record(
        {
            "purchase_id": NON_BLANK,
            "customer": Record({"customer_id": NON_BLANK, **CONTACTS}, required=True),
            "store": Record({"store_id": NON_BLANK, "store_network": TEXT, "location": Record({"city": TEXT})}, required=True),
            "items": ListOf(
                Record(
                    {
                        "product_id": NON_BLANK,
                        "name": TEXT,
                        "category": TEXT,
                        "quantity": Number(required=True, positive=True),
                        "unit": TEXT,
                        "price_per_unit": AMOUNT,
                        "total_price": AMOUNT,
                        "manufacturer": Record({"name": TEXT}),
                    }
                ),
                required=True,
                min_items=1,
                max_items=65_535,  # the MART's UInt16 item count and line number
            ),
            "total_amount": AMOUNT,
            "payment_method": TEXT,
            "is_delivery": FLAG,
            "delivery_address": Record({"city": TEXT}),
            "purchase_datetime": DateTime(required=True),
            "updated_at": UPDATED_AT,
        }
    ),
)

ENTITIES: tuple[Entity, ...] = (STORES, PRODUCTS, CUSTOMERS, PURCHASES)
BY_NAME = {entity.name: entity for entity in ENTITIES}
_BY_ASSET_NAME = {entity.asset_name(stage): entity for entity in ENTITIES for stage in Stage}


def entity_of(asset_key: dg.AssetKey) -> Entity:
    """The entity one of whose stages `asset_key` is."""
    return _BY_ASSET_NAME[asset_key.to_user_string()]
