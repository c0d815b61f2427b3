"""A generation written under a data root, one generator at a time, and `--remove`.

A second generator waits on the lock file in the generator's own folder (an `flock`, which the
kernel releases when its holder dies, so a killed generator never blocks the next). The landing
zone is the user's: the generator writes, replaces and removes only the files it wrote, each
written aside and renamed into place (see `own_files`). The same seed gives byte-identical files.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, suppress
from datetime import date
from pathlib import Path

from faker import Faker

from probablyfresh_dagster.entities import CUSTOMERS, ENTITIES, PRODUCTS, PURCHASES, STORES
from probablyfresh_dagster.generator.config import GeneratorConfig, LandingFormat, check_config, resolve_seed
from probablyfresh_dagster.generator.formats import write_lines, write_records
from probablyfresh_dagster.generator.own_files import MANIFEST, OWN_FOLDER, GeneratedFiles, Written, generated_files, lock_path
from probablyfresh_dagster.generator.purchase_workers import rendered_blocks
from probablyfresh_dagster.generator.purchases import PurchaseDraw, iter_purchases, make_purchase_parts
from probablyfresh_dagster.generator.records import make_customers, make_products, make_stores
from probablyfresh_dagster.lock_waits import exclusive_file_lock
from probablyfresh_dagster.progress import Progress


def exclusive(root: Path) -> AbstractContextManager[None]:
    """Hold the data root's generator lock, waiting (and saying so) while another holds it."""
    return exclusive_file_lock(lock_path(root), f"the generator writing to {root} to finish")


def generate(config: GeneratorConfig, root: Path, progress: Progress | None = None) -> dict[str, Written]:
    """Write a generation's landing files under `root`, leaving alone every name the generator
    did not write; return what it did per entity. `progress` counts the purchases written."""
    as_of = check_config(config)
    seed = resolve_seed(config.seed)
    root = Path(root)
    with exclusive(root), generated_files(root, [entity.name for entity in ENTITIES]) as files:
        written = _generate(config, seed, as_of, files, progress)
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


def _generate(
    config: GeneratorConfig, seed: int, as_of: date, files: GeneratedFiles, progress: Progress | None
) -> dict[str, Written]:
    rng = random.Random(seed)
    fake = Faker("ru_RU")
    fake.seed_instance(seed)
    stores = make_stores(config, rng, fake, as_of)
    products = make_products(config, rng, fake)
    customers = make_customers(stores, config, rng, fake, as_of)
    draw = PurchaseDraw.of(config.purchases, make_purchase_parts(stores, customers, products), rng, as_of)
    if progress is not None:
        progress.total = config.purchases
    return {
        STORES.name: write_records(files, STORES, stores, config.format),
        PRODUCTS.name: write_records(files, PRODUCTS, products, config.format),
        CUSTOMERS.name: write_records(files, CUSTOMERS, customers, config.format),
        PURCHASES.name: _write_purchases(files, draw, config.format, progress),
    }


def _write_purchases(files: GeneratedFiles, draw: PurchaseDraw, file_format: LandingFormat, progress: Progress | None) -> Written:
    """A file per purchase, drawn here; or one batch file of blocks drawn by a process per core."""
    if file_format == "json":
        purchases = iter_purchases(draw)
        return write_records(files, PURCHASES, progress.counted(purchases) if progress else purchases, file_format)
    # Closed on the way out, so that a failed write (a full disk) stops the workers at once, not
    # whenever the error's traceback lets the generator go.
    with closing(rendered_blocks(draw)) as blocks:
        return write_lines(files, PURCHASES, _counted(blocks, progress) if progress else blocks, file_format)


def _counted(blocks: Iterator[tuple[int, bytes]], progress: Progress) -> Iterator[tuple[int, bytes]]:
    for block in blocks:
        yield block
        progress.advance(block[0])
