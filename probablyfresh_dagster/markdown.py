"""Small markdown previews for asset metadata. They only ever show stored values, in which
phone and email are Fernet ciphertext; long values are cut so the table stays readable."""

from collections.abc import Sequence


def markdown_table(
    columns: Sequence[str], rows: Sequence[Sequence[object]], width: int = 24
) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_cell(value, width) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: object, width: int) -> str:
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"
