"""What the generator did not write, planted in its folders, and a snapshot of it to show that a
run left it as it was."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .processes import bound_unix_socket

GENERATED_NAMES = {
    "stores": [f"store-{n:03d}.json" for n in range(1, 6)],
    "products": [f"prd-{n}.json" for n in range(1000, 1005)],
    "customers": [f"cus-{n}.json" for n in range(1000, 1005)],
    "purchases": [f"ord-{n:05d}.json" for n in range(1, 6)],
}
"""The first five names the generator writes in each folder in the `json` format."""


def plant_foreign_entries(root: Path, outside: Path) -> list[Path]:
    """Put in every entity folder what the generator did not write: under five names it writes, a
    user's file, a directory, a link to a valid record outside, a dangling link and a FIFO; under
    the name of its batch file, a user's batch file; under other names a unix socket, a partial
    file, a file older than any generation, a hidden file, notes. Returns their paths."""
    outside.mkdir(exist_ok=True)
    (outside / "valid.json").write_text("{}", encoding="utf-8")
    planted = []
    for folder_name, (user_file, directory, link, dangling, fifo) in GENERATED_NAMES.items():
        folder = root / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / user_file).write_text('{"mine": true}', encoding="utf-8")
        (folder / directory).mkdir()
        (folder / directory / "inside.json").write_text("{}", encoding="utf-8")
        (folder / link).symlink_to(outside / "valid.json")
        (folder / dangling).symlink_to("nowhere.json")
        os.mkfifo(folder / fifo)
        (folder / f"{folder_name}.jsonl").write_text("{}\n", encoding="utf-8")
        for name, text in (("mine.json.partial", "{"), ("old.json", "{}"), (".hidden.json", "{}"), ("notes.txt", "x")):
            (folder / name).write_text(text, encoding="utf-8")
        os.utime(folder / "old.json", (1e9, 1e9))
        bound_unix_socket(folder, "socket.json").close()  # the file stays, as a socket
        planted += [
            folder / name
            for name in (
                *GENERATED_NAMES[folder_name],
                f"{folder_name}.jsonl",
                "socket.json",
                "mine.json.partial",
                "old.json",
                ".hidden.json",
                "notes.txt",
            )
        ]
    return planted


def snapshot(paths: list[Path]) -> dict[Path, tuple]:
    """Each entry as it is: its type, inode, size, mtime and content (a link's target, a folder's names)."""

    def content(path: Path, mode: int) -> object:
        if stat.S_ISLNK(mode):
            return os.readlink(path)
        if stat.S_ISREG(mode):
            return path.read_bytes()
        return names(path) if stat.S_ISDIR(mode) else None

    found = {}
    for path in paths:
        info = path.lstat()
        kind = stat.S_IFMT(info.st_mode)
        found[path] = (kind, info.st_ino, info.st_size, info.st_mtime_ns, content(path, info.st_mode))
    return found


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())
