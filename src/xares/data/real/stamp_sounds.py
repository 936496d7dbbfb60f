"""Tux Paint stamp sounds (tuxpaint-stamps-default): recorded sounds grouped by the stamp's category.

Each stamp may ship one recorded sound `<stamp>.ogg` (the `_desc_<lang>.ogg` files are spoken
descriptions and are left out, as are `symbols/`, whose sounds are spoken letters and numbers).
Classes, from the stamp's folder: bird (animals/birds), mammal (animals/mammals, animals/marsupials),
object (every category outside animals/: household, hobbies, town, vehicles, seasonal, ...). The
other animals (insects, amphibians, lizards: 7 sounds, one or two per fold) are left out: too few to
learn a class from. Five folds, each class dealt round-robin over the folds in path order, so
every fold holds about a fifth of each class. The .ogg bytes go into the shards unchanged, so the
build is byte-for-byte deterministic. Licence: GPL-2+ (Debian's copyright file of the package).
"""

from __future__ import annotations

from pathlib import Path

from xares.data.debian import read_members
from xares.data.real.packages import TUXPAINT_STAMPS, fetch
from xares.data.shards import write_shards
from xares.errors import DataError

CLASSES: tuple[str, ...] = ("bird", "mammal", "object")
FOLDS = 5
_ROOT = "usr/share/tuxpaint/stamps/"


def stamp_class(path: str) -> str | None:
    """The class of a stamp sound by its path inside the package; None when it is not one."""
    if not path.startswith(_ROOT) or not path.endswith(".ogg") or "_desc" in path.rsplit("/", 1)[-1]:
        return None
    parts = path[len(_ROOT) :].split("/")
    if len(parts) < 2 or parts[0] == "symbols":
        return None
    if parts[0] != "animals":
        return "object"
    return {"birds": "bird", "mammals": "mammal", "marsupials": "mammal"}.get(parts[1])


def build(deb: Path, out_dir: Path) -> None:
    """Write wds-audio-fold-{1..5}-000000.tar from the package's stamp sounds."""
    files = read_members(deb, lambda p: stamp_class(p) is not None)
    if not files:
        raise DataError(f"{deb}: no stamp sounds found under {_ROOT}; is this tuxpaint-stamps-default?")
    folds: dict[int, list] = {fold: [] for fold in range(1, FOLDS + 1)}
    for label in CLASSES:
        paths = sorted(p for p in files if stamp_class(p) == label)
        for index, path in enumerate(paths):
            key = path[len(_ROOT) : -len(".ogg")].replace("/", "__").replace(".", "_")
            meta = {"label": label, "path": path}
            folds[index % FOLDS + 1].append((key, files[path], "ogg", meta))
    for fold, samples in folds.items():
        write_shards(sorted(samples, key=lambda s: s[0]), Path(out_dir), f"wds-audio-fold-{fold}-*.tar", 1)


def generate(out_dir: Path) -> None:
    build(fetch(TUXPAINT_STAMPS, out_dir), out_dir)


generate.debian_packages = (TUXPAINT_STAMPS,)  # read by `xares fetch --print-urls`
