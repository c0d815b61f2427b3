"""Deterministic generator of the ProbablyFresh source files.

Two formats (see `landing` for how each is read). `json`, the default and the source documents'
format, writes one file per record: `stores/<store_id>.json`, `products/<id>.json`,
`customers/<customer_id>.json`, `purchases/<purchase_id>.json`. `jsonl` and `jsonl.gz` write one
batch file per entity, a record a line (`purchases/purchases.jsonl`), streamed: purchases are
never all in memory, in either format.

Phones and emails are deliberately messy (mixed phone formats, stray spaces and capitals in
some emails): the pipeline normalizes them before Kafka. Money is computed in whole kopecks so
that every purchase total equals the sum of its lines exactly.

One generator at a time per data root: a second one waits on the lock file in the generator's
own folder (an `flock`, which the kernel releases when its holder dies, so a killed generator never
blocks the next). The landing zone is the user's: the generator writes, replaces and removes only
the files it wrote, each written aside and renamed into place (see `generated_files`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import IO, Any, Literal, get_args, get_origin

import dagster as dg
import orjson
from faker import Faker

from probablyfresh_dagster.entities import CUSTOMERS, ENTITIES, PRODUCTS, PURCHASES, STORES, Entity
from probablyfresh_dagster.file_lock import exclusive_file_lock
from probablyfresh_dagster.generated_files import (
    MANIFEST,
    OWN_FOLDER,
    Content,
    GeneratedFiles,
    Written,
    generated_files,
    left_alone,
    lock_path,
)
from probablyfresh_dagster.landing_folder import ONE_RECORD_SUFFIX
from probablyfresh_dagster.private_files import owner_only_process
from probablyfresh_dagster.settings import load_env_file

DEFAULT_SEED = 42
MOSCOW = timezone(timedelta(hours=3))
PURCHASE_WINDOW = timedelta(days=90)
OWN_STORE_SHARE = 0.85
"""Share of purchases made in the customer's own store; the rest go to a random store."""
MESSY_EMAIL_SHARE = 0.10
MAX_LINES_PER_PURCHASE = 5
MAX_QUANTITY = 5
GZIP_LEVEL = 1
"""Fast over small: level 6 would make compression the generator's bottleneck."""

Record = dict[str, Any]

CATEGORY_GOODS: dict[str, tuple[tuple[str, str], ...]] = {
    "🥖 Зерновые и хлебобулочные изделия": (
        ("Хлеб бородинский", "шт"), ("Батон нарезной", "шт"), ("Гречка ядрица", "упаковка"),
        ("Рис круглозёрный", "упаковка"), ("Овсяные хлопья", "упаковка"),
        ("Макароны спагетти", "упаковка"), ("Лаваш армянский", "шт"), ("Булгур", "упаковка"),
    ),
    "🥩 Мясо, рыба, яйца и бобовые": (
        ("Куриное филе", "кг"), ("Говядина вырезка", "кг"), ("Свиная шея", "кг"),
        ("Филе минтая", "кг"), ("Сёмга слабосолёная", "упаковка"), ("Яйца куриные С1", "упаковка"),
        ("Фасоль красная", "упаковка"), ("Чечевица зелёная", "упаковка"),
    ),
    "🥛 Молочные продукты": (
        ("Молоко 3,2%", "л"), ("Кефир 2,5%", "л"), ("Творог 5%", "упаковка"),
        ("Сметана 20%", "упаковка"), ("Сыр российский", "кг"), ("Йогурт натуральный", "шт"),
        ("Ряженка 4%", "л"), ("Масло сливочное 82,5%", "упаковка"),
    ),
    "🍏 Фрукты и ягоды": (
        ("Яблоки Гала", "кг"), ("Бананы", "кг"), ("Апельсины", "кг"), ("Груши Конференция", "кг"),
        ("Клубника", "упаковка"), ("Черника", "упаковка"), ("Мандарины", "кг"),
        ("Виноград кишмиш", "кг"),
    ),
    "🥦 Овощи и зелень": (
        ("Картофель", "кг"), ("Морковь", "кг"), ("Огурцы", "кг"), ("Томаты черри", "упаковка"),
        ("Лук репчатый", "кг"), ("Капуста белокочанная", "кг"), ("Укроп", "шт"),
        ("Брокколи", "кг"),
    ),
}
"""The five categories (names as in the original project) with typical goods and their units."""
CATEGORIES = tuple(CATEGORY_GOODS)

CITIES: tuple[tuple[str, float, float], ...] = (
    ("Москва", 55.7558, 37.6173), ("Санкт-Петербург", 59.9343, 30.3351),
    ("Новосибирск", 55.0084, 82.9357), ("Екатеринбург", 56.8389, 60.6057),
    ("Казань", 55.7961, 49.1064), ("Нижний Новгород", 56.2965, 43.9361),
    ("Самара", 53.1959, 50.1002), ("Ростов-на-Дону", 47.2357, 39.7015),
    ("Краснодар", 45.0355, 38.9753), ("Воронеж", 51.6608, 39.2003),
    ("Пермь", 58.0105, 56.2502), ("Владивосток", 43.1155, 131.8855),
)
"""Real city centres, so that a store's coordinates lie in (or next to) its city."""

BRANDS = (
    "Свежий день", "Луговое", "Северная ферма", "Добрый урожай", "Солнечный край",
    "Зелёная долина", "Утренняя роса", "Сытый двор", "Тёплый край", "Родные поля",
)
ORIGIN_COUNTRIES = ("Россия", "Беларусь", "Казахстан", "Турция", "Эквадор")
ORIGIN_WEIGHTS = (70, 10, 8, 7, 5)


class GeneratorConfig(dg.Config):
    """How much to generate and from which seed."""

    seed: int | None = None
    """None: the `SEED` environment variable, else 42."""
    almost_stores: int = 30
    """Stores of the "Almost" network (supermarkets), numbered first."""
    maybe_stores: int = 15
    """Stores of the "Maybe" network (neighbourhood shops)."""
    products_per_category: int = 20
    customers_per_store: int = 1
    purchases: int = 200
    as_of: str = "2026-11-01"
    """The generator's "today" (YYYY-MM-DD): every generated date is on or before it.

    A fixed date rather than the wall clock, so a seed yields byte-identical files whenever it
    is run; move it forward to get recent-looking data.
    """
    format: Literal["json", "jsonl", "jsonl.gz"] = "json"
    """`json`: one file per record; `jsonl` (`jsonl.gz`): one batch file per entity, a record a line."""


def resolve_seed(cli_seed: int | None) -> int:
    """The explicit (CLI or run config) seed, else the `SEED` environment variable, else 42."""
    if cli_seed is not None:
        return cli_seed
    raw = os.environ.get("SEED", "").strip()
    if not raw:
        return DEFAULT_SEED
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"SEED must be an integer, got {raw!r}") from None


def check_config(config: GeneratorConfig) -> date:
    """Raise a ValueError naming every invalid setting; return the parsed `as_of` date."""
    problems = [
        f"{name} must be >= 0, got {value}"
        for name, value in (
            ("almost_stores", config.almost_stores),
            ("maybe_stores", config.maybe_stores),
            ("products_per_category", config.products_per_category),
            ("customers_per_store", config.customers_per_store),
            ("purchases", config.purchases),
        )
        if value < 0
    ]
    if config.purchases > 0 and not problems:
        if config.almost_stores + config.maybe_stores == 0:
            problems.append("purchases need at least one store")
        if config.products_per_category == 0:
            problems.append("purchases need at least one product (products_per_category >= 1)")
        if config.customers_per_store == 0:
            problems.append("purchases need at least one customer (customers_per_store >= 1)")
    try:
        as_of = date.fromisoformat(config.as_of)
    except ValueError:
        problems.append(f"as_of must be a YYYY-MM-DD date, got {config.as_of!r}")
    if problems:
        raise ValueError("Invalid generator config: " + "; ".join(problems))
    return as_of


def messy_email(email: str, rng: random.Random) -> str:
    """About one email in ten gets stray spaces or capital letters, as typed by real people."""
    roll = rng.random()
    if roll < MESSY_EMAIL_SHARE / 2:
        return f"  {email} "
    if roll < MESSY_EMAIL_SHARE:
        return email.upper() if rng.random() < 0.5 else email.capitalize()
    return email


def moscow_datetime(day: date, seconds: int) -> str:
    return (datetime.combine(day, time(), MOSCOW) + timedelta(seconds=seconds)).isoformat()


def make_store(
    number: int, network: str, network_size: int, rng: random.Random, fake: Faker, as_of: date
) -> Record:
    city, latitude, longitude = rng.choice(CITIES)
    supermarket = network == "Almost"
    kind = "Супермаркет площадью более 200 м²" if supermarket else "Магазин у дома площадью менее 100 м²"
    street = fake.street_name()
    return {
        "store_id": f"store-{number:03d}",
        "store_name": f"{network} — магазин на {street}",
        "store_network": network,
        "store_type_description": f"{kind}. Входит в сеть {network} из {network_size} магазинов.",
        "type": "offline",
        "categories": list(CATEGORIES),
        "manager": {
            "name": fake.name(),
            "phone": fake.phone_number(),
            "email": messy_email(fake.email(), rng),
        },
        "location": {
            "country": "Россия",
            "city": city,
            "street": street,
            "house": fake.building_number(),
            "postal_code": fake.postcode(),
            "coordinates": {
                "latitude": round(latitude + rng.uniform(-0.08, 0.08), 6),
                "longitude": round(longitude + rng.uniform(-0.12, 0.12), 6),
            },
        },
        "opening_hours": (
            {"mon_fri": "08:00-22:00", "sat": "09:00-22:00", "sun": "09:00-21:00"}
            if supermarket
            else {"mon_fri": "09:00-21:00", "sat": "10:00-20:00", "sun": "10:00-18:00"}
        ),
        "accepts_online_orders": supermarket or rng.random() < 0.5,
        "delivery_available": supermarket or rng.random() < 0.3,
        "warehouse_connected": rng.random() < 0.5,
        "last_inventory_date": (as_of - timedelta(days=rng.randint(0, 30))).isoformat(),
    }


def make_stores(
    config: GeneratorConfig, rng: random.Random, fake: Faker, as_of: date
) -> list[Record]:
    sizes = (("Almost", config.almost_stores), ("Maybe", config.maybe_stores))
    networks = [(network, size) for network, size in sizes for _ in range(size)]
    return [
        make_store(number, network, size, rng, fake, as_of)
        for number, (network, size) in enumerate(networks, start=1)
    ]


def make_product(number: int, category: str, rng: random.Random, fake: Faker) -> Record:
    base_name, unit = rng.choice(CATEGORY_GOODS[category])
    country = rng.choices(ORIGIN_COUNTRIES, weights=ORIGIN_WEIGHTS)[0]
    return {
        "id": f"prd-{1000 + number}",
        "name": f"{base_name} «{rng.choice(BRANDS)}»",
        "group": category,
        "description": fake.sentence(),
        "kbju": {
            "calories": round(rng.uniform(20, 400), 1),
            "protein": round(rng.uniform(0.2, 25), 1),
            "fat": round(rng.uniform(0.1, 30), 1),
            "carbohydrates": round(rng.uniform(0.1, 70), 1),
        },
        "price": rng.randint(2_990, 89_990) / 100,
        "unit": unit,
        "origin_country": country,
        "expiry_days": rng.randint(3, 90),
        "is_organic": rng.random() < 0.2,
        "barcode": fake.ean13(),
        "manufacturer": {
            "name": fake.company(),
            "country": country,
            "website": f"https://{fake.domain_name()}",
            "inn": fake.businesses_inn(),
        },
    }


def make_products(config: GeneratorConfig, rng: random.Random, fake: Faker) -> list[Record]:
    categories = [c for c in CATEGORIES for _ in range(config.products_per_category)]
    return [make_product(n, category, rng, fake) for n, category in enumerate(categories)]


def make_customer(
    number: int, store: Record, rng: random.Random, fake: Faker, as_of: date
) -> Record:
    gender = rng.choice(("male", "female"))
    male = gender == "male"
    location = store["location"]
    is_loyalty_member = rng.random() < 0.8
    birth_date = as_of - timedelta(days=rng.randint(18 * 366, 75 * 365))
    registered = as_of - timedelta(days=rng.randint(PURCHASE_WINDOW.days + 1, 5 * 365))
    return {
        "customer_id": f"cus-{1000 + number}",
        "first_name": fake.first_name_male() if male else fake.first_name_female(),
        "last_name": fake.last_name_male() if male else fake.last_name_female(),
        "email": messy_email(fake.email(), rng),
        "phone": fake.phone_number(),
        "birth_date": birth_date.isoformat(),
        "gender": gender,
        "registration_date": moscow_datetime(registered, rng.randrange(86_400)),
        "is_loyalty_member": is_loyalty_member,
        "loyalty_card_number": (
            f"LOYAL-{rng.getrandbits(40):010X}" if is_loyalty_member else None
        ),
        "purchase_location": {
            "store_id": store["store_id"],
            "store_name": store["store_name"],
            "store_network": store["store_network"],
            **location,
        },
        "delivery_address": {
            "country": location["country"],
            "city": location["city"],
            "street": fake.street_name(),
            "house": fake.building_number(),
            "apartment": str(rng.randint(1, 300)),
            "postal_code": fake.postcode(),
        },
        "preferences": {
            "preferred_language": "ru",
            "preferred_payment_method": rng.choice(("card", "cash")),
            "receive_promotions": rng.random() < 0.6,
        },
    }


def make_customers(
    stores: Sequence[Record], config: GeneratorConfig, rng: random.Random, fake: Faker, as_of: date
) -> list[Record]:
    homes = [store for store in stores for _ in range(config.customers_per_store)]
    return [make_customer(n, store, rng, fake, as_of) for n, store in enumerate(homes)]


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
        "customer_id", "first_name", "last_name", "email", "phone",
        "is_loyalty_member", "loyalty_card_number",
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


def make_purchase_parts(
    stores: Sequence[Record], customers: Sequence[Record], products: Sequence[Record]
) -> PurchaseParts:
    excerpts = {store["store_id"]: store_excerpt(store) for store in stores}
    lines = [
        [purchase_line(product, quantity) for quantity in range(1, MAX_QUANTITY + 1)]
        for product in products
    ]
    return PurchaseParts(
        buyers=[buyer_excerpt(customer) for customer in customers],
        home_stores=[excerpts[c["purchase_location"]["store_id"]] for c in customers],
        delivery_addresses=[customer["delivery_address"] for customer in customers],
        stores=list(excerpts.values()),
        lines=[[line for line, _ in by_quantity] for by_quantity in lines],
        line_kopecks=[[kopecks for _, kopecks in by_quantity] for by_quantity in lines],
    )


def iter_purchases(
    count: int, parts: PurchaseParts, rng: random.Random, as_of: date
) -> Iterator[Record]:
    """Yield purchases one at a time, so that writing them needs no list of all of them."""
    window_seconds = int(PURCHASE_WINDOW.total_seconds())
    last_second = datetime.combine(as_of, time(23, 59, 59), MOSCOW)
    products = range(len(parts.lines))
    for number in range(1, count + 1):
        buyer = rng.randrange(len(parts.buyers))
        own_store = rng.random() < OWN_STORE_SHARE
        store = parts.home_stores[buyer] if own_store else rng.choice(parts.stores)
        line_count = min(rng.randint(1, MAX_LINES_PER_PURCHASE), len(products))
        picks = [(p, rng.randint(1, MAX_QUANTITY) - 1) for p in rng.sample(products, line_count)]
        purchased_at = last_second - timedelta(seconds=rng.randrange(window_seconds))
        yield {
            "purchase_id": f"ord-{number:05d}",
            "customer": parts.buyers[buyer],
            "store": store,
            "items": [parts.lines[p][q] for p, q in picks],
            "total_amount": sum(parts.line_kopecks[p][q] for p, q in picks) / 100,
            "payment_method": rng.choice(("card", "cash")),
            "is_delivery": rng.random() < 0.3,
            "delivery_address": parts.delivery_addresses[buyer],
            "purchase_datetime": purchased_at.isoformat(),
        }


def exclusive(root: Path) -> AbstractContextManager[None]:
    """Hold the data root's generator lock, waiting (and saying so) while another holds it."""
    return exclusive_file_lock(lock_path(root), f"the generator writing to {root} to finish")


def write_records(files: GeneratedFiles, entity: Entity, records: Iterable[Record], file_format: str) -> Written:
    """Write the records in the format: a file per record (`json`), or one batch file streamed."""
    if file_format == "json":
        named = ((f"{record[entity.key]}{ONE_RECORD_SUFFIX}", _one_record(record)) for record in records)
        return files.write(entity.name, named)
    return files.write(entity.name, [(f"{entity.name}.{file_format}", _batch(records, file_format))])


def _one_record(record: Record) -> Content:
    def write(handle: IO[bytes]) -> int:
        handle.write((json.dumps(record, ensure_ascii=False, indent=2) + "\n").encode())
        return 1

    return write


def _batch(records: Iterable[Record], file_format: str) -> Content:
    def write(raw: IO[bytes]) -> int:
        written = 0
        with _compressed(raw, file_format) as handle:
            for record in records:
                handle.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
                written += 1
        return written

    return write


def _compressed(raw: IO[bytes], file_format: str) -> AbstractContextManager[IO[bytes]]:
    """`raw` itself, or a gzip stream onto it dated 0, so that a seed still yields identical bytes."""
    if file_format.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
    return nullcontext(raw)


def generate(config: GeneratorConfig, root: Path) -> dict[str, Written]:
    """Write a generation's landing files under `root`, leaving alone every name the generator
    did not write; return what it did per entity."""
    as_of = check_config(config)
    seed = resolve_seed(config.seed)
    root = Path(root)
    with exclusive(root), generated_files(root, [entity.name for entity in ENTITIES]) as files:
        written = _generate(config, seed, as_of, files)
        files.remove_stale()
    return written


def remove_generated(root: Path) -> int:
    """Remove the landing files the generator wrote under `root` and nobody changed since, its own
    folder, and the entity folders left empty (what `make clean` forgets); everything else stays.
    The number of files removed."""
    root = Path(root)
    if not (root / OWN_FOLDER / MANIFEST).exists():
        return 0
    with exclusive(root), generated_files(root, []) as files:
        removed = files.remove_stale()
    shutil.rmtree(root / OWN_FOLDER)
    for entity in ENTITIES:
        with suppress(OSError):  # not empty: what is left is the user's
            (root / entity.name).rmdir()
    return removed


def _generate(config: GeneratorConfig, seed: int, as_of: date, files: GeneratedFiles) -> dict[str, Written]:
    rng = random.Random(seed)
    fake = Faker("ru_RU")
    fake.seed_instance(seed)
    stores = make_stores(config, rng, fake, as_of)
    products = make_products(config, rng, fake)
    customers = make_customers(stores, config, rng, fake, as_of)
    parts = make_purchase_parts(stores, customers, products)
    purchases = iter_purchases(config.purchases, parts, rng, as_of)
    return {
        STORES.name: write_records(files, STORES, stores, config.format),
        PRODUCTS.name: write_records(files, PRODUCTS, products, config.format),
        CUSTOMERS.name: write_records(files, CUSTOMERS, customers, config.format),
        PURCHASES.name: write_records(files, PURCHASES, purchases, config.format),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, int]:
    owner_only_process()
    parser = argparse.ArgumentParser(description="Generate ProbablyFresh source files.")
    parser.add_argument("--seed", type=int, help="default: $SEED, else 42")
    for name, field in GeneratorConfig.model_fields.items():
        if name != "seed":
            option = "--" + name.replace("_", "-")
            if get_origin(field.annotation) is Literal:
                parser.add_argument(option, choices=get_args(field.annotation), help=f"default: {field.default}")
            else:
                parser.add_argument(option, type=field.annotation, help=f"default: {field.default}")
    parser.add_argument("--out", type=Path, default=Path("data"), help="data root (default: data)")
    parser.add_argument("--remove", action="store_true",
                        help="remove the files the generator wrote and nobody changed since, nothing else")
    args = vars(parser.parse_args(argv))
    load_env_file()
    out = args.pop("out")
    if args.pop("remove"):
        print(f"Removed from {out} {remove_generated(out)} files the generator wrote; nothing else")
        return {}
    config = GeneratorConfig(**{name: value for name, value in args.items() if value is not None})
    written = generate(config, out)
    report = ", ".join(f"{name}={entity.records}" for name, entity in written.items())
    print(f"Wrote to {out}: {report}" + (f"; {taken}" if (taken := left_alone(written)) else ""))
    return {name: entity.records for name, entity in written.items()}


if __name__ == "__main__":
    main()
