"""`python -m probablyfresh_dagster.generator`: write a generation, or `--remove` what the generator wrote."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, cast, get_args, get_origin

from probablyfresh_dagster.generator.config import GeneratorConfig
from probablyfresh_dagster.generator.own_files import left_alone
from probablyfresh_dagster.generator.writing import generate, remove_generated
from probablyfresh_dagster.private_files import owner_only_process
from probablyfresh_dagster.settings import load_env_file


def main(argv: Sequence[str] | None = None) -> dict[str, int]:
    owner_only_process()
    parser = argparse.ArgumentParser(
        prog="python -m probablyfresh_dagster.generator", description="Generate ProbablyFresh source files."
    )
    parser.add_argument("--seed", type=int, help="default: $SEED, else 42")
    for name, field in GeneratorConfig.model_fields.items():
        if name != "seed":
            option = "--" + name.replace("_", "-")
            if get_origin(field.annotation) is Literal:
                parser.add_argument(option, choices=get_args(field.annotation), help=f"default: {field.default}")
            else:
                # int or str: the type itself parses the option
                parser.add_argument(option, type=cast(Callable[[str], Any], field.annotation), help=f"default: {field.default}")
    parser.add_argument("--out", type=Path, default=Path("data"), help="data root (default: data)")
    parser.add_argument(
        "--remove", action="store_true", help="remove the files the generator wrote and nobody changed since, nothing else"
    )
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
