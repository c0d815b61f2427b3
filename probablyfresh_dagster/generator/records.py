"""The stores, products and customers of a generation, faked with Faker's `ru_RU` locale.

Phones and emails are deliberately messy (mixed phone formats, stray spaces and capitals in
some emails): the pipeline normalizes them before Kafka.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from faker import Faker

from probablyfresh_dagster.generator.calendar import MOSCOW, PURCHASE_WINDOW, Record
from probablyfresh_dagster.generator.config import GeneratorConfig

MESSY_EMAIL_SHARE = 0.10

CATEGORY_GOODS: dict[str, tuple[tuple[str, str], ...]] = {
    "🥖 Зерновые и хлебобулочные изделия": (
        ("Хлеб бородинский", "шт"),
        ("Батон нарезной", "шт"),
        ("Гречка ядрица", "упаковка"),
        ("Рис круглозёрный", "упаковка"),
        ("Овсяные хлопья", "упаковка"),
        ("Макароны спагетти", "упаковка"),
        ("Лаваш армянский", "шт"),
        ("Булгур", "упаковка"),
    ),
    "🥩 Мясо, рыба, яйца и бобовые": (
        ("Куриное филе", "кг"),
        ("Говядина вырезка", "кг"),
        ("Свиная шея", "кг"),
        ("Филе минтая", "кг"),
        ("Сёмга слабосолёная", "упаковка"),
        ("Яйца куриные С1", "упаковка"),
        ("Фасоль красная", "упаковка"),
        ("Чечевица зелёная", "упаковка"),
    ),
    "🥛 Молочные продукты": (
        ("Молоко 3,2%", "л"),
        ("Кефир 2,5%", "л"),
        ("Творог 5%", "упаковка"),
        ("Сметана 20%", "упаковка"),
        ("Сыр российский", "кг"),
        ("Йогурт натуральный", "шт"),
        ("Ряженка 4%", "л"),
        ("Масло сливочное 82,5%", "упаковка"),
    ),
    "🍏 Фрукты и ягоды": (
        ("Яблоки Гала", "кг"),
        ("Бананы", "кг"),
        ("Апельсины", "кг"),
        ("Груши Конференция", "кг"),
        ("Клубника", "упаковка"),
        ("Черника", "упаковка"),
        ("Мандарины", "кг"),
        ("Виноград кишмиш", "кг"),
    ),
    "🥦 Овощи и зелень": (
        ("Картофель", "кг"),
        ("Морковь", "кг"),
        ("Огурцы", "кг"),
        ("Томаты черри", "упаковка"),
        ("Лук репчатый", "кг"),
        ("Капуста белокочанная", "кг"),
        ("Укроп", "шт"),
        ("Брокколи", "кг"),
    ),
}
"""The five categories (names as in the original project) with typical goods and their units."""
CATEGORIES = tuple(CATEGORY_GOODS)

CITIES: tuple[tuple[str, float, float], ...] = (
    ("Москва", 55.7558, 37.6173),
    ("Санкт-Петербург", 59.9343, 30.3351),
    ("Новосибирск", 55.0084, 82.9357),
    ("Екатеринбург", 56.8389, 60.6057),
    ("Казань", 55.7961, 49.1064),
    ("Нижний Новгород", 56.2965, 43.9361),
    ("Самара", 53.1959, 50.1002),
    ("Ростов-на-Дону", 47.2357, 39.7015),
    ("Краснодар", 45.0355, 38.9753),
    ("Воронеж", 51.6608, 39.2003),
    ("Пермь", 58.0105, 56.2502),
    ("Владивосток", 43.1155, 131.8855),
)
"""Real city centres, so that a store's coordinates lie in (or next to) its city."""

BRANDS = (
    "Свежий день",
    "Луговое",
    "Северная ферма",
    "Добрый урожай",
    "Солнечный край",
    "Зелёная долина",
    "Утренняя роса",
    "Сытый двор",
    "Тёплый край",
    "Родные поля",
)
ORIGIN_COUNTRIES = ("Россия", "Беларусь", "Казахстан", "Турция", "Эквадор")
ORIGIN_WEIGHTS = (70, 10, 8, 7, 5)


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


def make_store(number: int, network: str, network_size: int, rng: random.Random, fake: Faker, as_of: date) -> Record:
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


def make_stores(config: GeneratorConfig, rng: random.Random, fake: Faker, as_of: date) -> list[Record]:
    sizes = (("Almost", config.almost_stores), ("Maybe", config.maybe_stores))
    networks = [(network, size) for network, size in sizes for _ in range(size)]
    return [make_store(number, network, size, rng, fake, as_of) for number, (network, size) in enumerate(networks, start=1)]


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


def make_customer(number: int, store: Record, rng: random.Random, fake: Faker, as_of: date) -> Record:
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
        "loyalty_card_number": (f"LOYAL-{rng.getrandbits(40):010X}" if is_loyalty_member else None),
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
