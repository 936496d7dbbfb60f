"""`xares pack`: a folder of the user's own audio plus a table of labels, written as X-ARES shards.

Adding a task used to mean writing webdataset tars by hand. Here a researcher hands over what they
have, a folder of audio files and a CSV/TSV (or JSON lines) file with one row per file, and gets
what stage 1 reads: per split (or fold) a series of plain tars `<split>-000000.tar`, ...
(`wds-audio-fold-<n>-000000.tar` for folds), each sample an audio member holding the file's original
bytes next to a JSON member holding the row's label columns, then the `.audio_tar_ready` marker, and
a task file that loads them (`task_skeleton`).

Why each rule:
- Keys are made safe for webdataset, whose key is everything before the first '.' of a member's
  name: every character other than a letter, a digit, '_' or '-' becomes '_' (directories too), so
  `dog.1.wav` cannot be cut short to `dog`. Two files whose safe keys coincide are an error, never a
  silent overwrite.
- The audio bytes are copied as they are (the published X-ARES shards do the same), so packing never
  changes what an encoder hears; re-encoding happens only when asked (`resample=`, `encode=`).
- Same inputs, same bytes: samples sorted by key, members with mtime 0, uid/gid 0, no owner names
  and mode 0644, so a pack can be checked by its checksum and rebuilt anywhere.
- Every shard is written to a temporary file and renamed; the marker is removed first and written
  last, so a crash or a refused input never leaves a folder that looks ready.
- Bad input is reported all at once, each problem naming the row (file and line) and the audio file,
  so one run shows everything to fix.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import os
import re
import tarfile
import tempfile
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from filelock import FileLock

from xares.atomic import shared_file_mode, write_json_atomic
from xares.data.shards import AUDIO_EXTENSIONS, add_member, decoder_message, shard_name
from xares.errors import DataError

READY_MARKER = ".audio_tar_ready"  # the name stage 0 (xares.acquire) writes and trusts
NAMED_SPLITS: tuple[str, ...] = ("train", "valid", "test")
# Audio that libsndfile reads but a shard cannot hold as it is (the reader knows AUDIO_EXTENSIONS
# only): packed after re-encoding (`encode=`), refused otherwise with that advice.
CONVERTIBLE_EXTENSIONS: tuple[str, ...] = ("aif", "aiff", "aifc", "au", "caf", "w64", "rf64", "opus", "oga")
FILE_COLUMNS: tuple[str, ...] = ("file", "filename", "file_name", "path", "audio", "audio_path")
DEFAULT_MAX_SHARD_BYTES = 512 * 1024**2
ENCODINGS = ("flac", "wav")

_BLOCK = tarfile.BLOCKSIZE  # 512
_RECORD = tarfile.RECORDSIZE  # tarfile pads a closed archive to a multiple of this
_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_UNSAFE = re.compile(r"[^\w-]")
_SHOWN = 30  # problems listed in full in one error message
_CHECK_FRAMES = 1 << 18  # frames decoded at a time when checking a file whose bytes are kept


class PackError(DataError):
    """The audio folder or the labels cannot be packed; `problems` lists every reason, one a line."""

    def __init__(self, summary: str, problems: Sequence[str] = ()) -> None:
        self.problems = list(problems)
        lines = [f"  - {p}" for p in self.problems[:_SHOWN]]
        if len(self.problems) > _SHOWN:
            lines.append(f"  ... and {len(self.problems) - _SHOWN} more")
        super().__init__("\n".join([summary, *lines]) if lines else summary)


@dataclass(frozen=True)
class PackedSplit:
    """One split (or fold) as written: its shard pattern (for the task file) and its shards."""

    split: str | int
    pattern: str
    shards: tuple[Path, ...]
    samples: int


@dataclass
class PackResult:
    """What `pack` wrote, and what a task file needs to know to read it."""

    out_dir: Path
    audio_dir: Path
    splits: dict[str | int, PackedSplit]
    kfold: bool
    label_columns: dict[str, list[Any]]  # column -> every value it holds (for the task file)
    samples: int
    seconds: float

    @property
    def task_name(self) -> str:
        return self.out_dir.resolve().name  # `--out .` too: the task's folder is named as it is

    @property
    def files(self) -> list[Path]:
        return sorted(p for s in self.splits.values() for p in s.shards)

    @property
    def task_file_name(self) -> str:
        """`<identifier>_task.py`, the name the task files of src/tasks/ have."""
        return f"{_identifier(self.task_name)}_task.py"


@dataclass
class _Row:
    where: str  # "labels.csv, line 7": how an error message names the row
    values: dict[str, Any]


@dataclass
class _Sample:
    key: str
    path: Path
    relative: str
    ext: str
    split: str | int
    meta: dict[str, Any]
    where: str


@dataclass
class _Table:
    path: Path | str  # the labels file, or how rows given in Python are named in messages
    columns: list[str]
    rows: list[_Row] = field(default_factory=list)
    typed: bool = False  # JSON lines carry their own types; CSV cells are text


def safe_key(relative_path: str) -> str:
    """The webdataset key of a file at `relative_path` (POSIX, below the audio folder).

    The last extension is dropped; every other character that is not a letter, a digit, '_' or '-'
    ('.', '/', spaces, punctuation) becomes '_', after Unicode NFC normalisation (so the same name
    typed on macOS and Linux gives the same key).
    """
    stem = relative_path.rsplit(".", 1)[0] if "." in relative_path.rsplit("/", 1)[-1] else relative_path
    return _UNSAFE.sub("_", unicodedata.normalize("NFC", stem))


def pack(
    audio_dir: str | os.PathLike,
    labels: str | os.PathLike | Iterable[Mapping[str, Any]],
    out_dir: str | os.PathLike,
    split_column: str = "split",
    *,
    file_column: str | None = None,
    columns: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    resample: int | None = None,
    encode: str | None = None,
    infer_types: bool = True,
    ignore_unlisted: bool = False,
    overwrite: bool = False,
) -> PackResult:
    """Pack the audio files of `audio_dir` listed in `labels` into X-ARES shards in `out_dir`.

    `labels` is a .csv, .tsv or .jsonl (.ndjson) file with one row per audio file (or those rows as
    dicts, e.g. a DataFrame's `to_dict("records")`, whose values keep their types): `file_column`
    (default: the one column named file, filename, file_name, path, audio or audio_path) holds the
    file's path relative to `audio_dir` (the extension may be left out), `split_column` its split:
    train/valid/test (or the names given in `splits`, in train, valid, test order) or fold numbers
    (every value an integer). Every other column (or those in `columns`) goes into the sample's JSON;
    CSV values that are all integers (or all numbers) in a column become JSON numbers unless
    `infer_types` is False, and an empty cell leaves the field out. Hidden files and folders (a
    leading '.') are not looked at; an audio file without a row is an error unless `ignore_unlisted`
    (a table that labels part of a folder). Shards hold at most `max_shard_bytes` bytes each. With `resample`
    (Hz) or `encode` ('flac' or 'wav') the audio is decoded and written again, otherwise its bytes are
    kept. An `out_dir` that already holds shards of these splits is refused unless `overwrite`.

    Raises PackError listing every problem (row, file, and what to do) before anything is written.
    """
    started = time.perf_counter()
    audio_dir, out_dir = Path(audio_dir), Path(out_dir)
    encode = _check_options(audio_dir, max_shard_bytes, resample, encode)
    table = read_labels(labels) if isinstance(labels, (str, os.PathLike)) else _rows_table(labels)
    samples, kfold, allowed = _match(
        table, audio_dir, split_column, file_column, columns, splits, encode, infer_types, ignore_unlisted
    )
    by_split: dict[str | int, list[_Sample]] = {}
    for sample in sorted(samples, key=lambda s: (str(s.split), s.key)):
        by_split.setdefault(sample.split, []).append(sample)
    # `allowed` is in fold order, or in train, valid, test order
    patterns = {s: f"wds-audio-fold-{s}-*.tar" if kfold else f"{s}-*.tar" for s in allowed if s in by_split}
    env_root = out_dir.resolve().parent
    env_root.mkdir(parents=True, exist_ok=True)
    # the lock stage 0 takes for this task (xares.acquire): no fetch or second pack writes here meanwhile
    with FileLock(str(env_root / f".{out_dir.resolve().name}.acquire.lock")):
        _check_out_dir(out_dir, patterns.values(), overwrite)
        out_dir.mkdir(exist_ok=True)
        written = _write_splits(by_split, patterns, out_dir, table.path, max_shard_bytes, resample, encode)
        names = dict.fromkeys(name for s in samples for name in s.meta)
        result = PackResult(
            out_dir=out_dir,
            audio_dir=audio_dir,
            splits=written,
            kfold=kfold,
            label_columns={n: [s.meta[n] for s in samples if n in s.meta] for n in names},
            samples=len(samples),
            seconds=round(time.perf_counter() - started, 3),
        )
        labels_file = table.path.resolve() if isinstance(table.path, Path) else table.path
        write_json_atomic(
            out_dir / READY_MARKER,
            {
                "source": f"packed by xares pack from {audio_dir.resolve()} and {labels_file}",
                "files": {p.name: p.stat().st_size for p in result.files},
                "seconds": result.seconds,
            },
        )
    return result


def _write_splits(
    by_split: dict[str | int, list[_Sample]],
    patterns: dict[str | int, str],
    out_dir: Path,
    labels: Path | str,
    max_shard_bytes: int,
    resample: int | None,
    encode: str | None,
) -> dict[str | int, PackedSplit]:
    """Every split into temporary files; only when all are written do they replace the old set.

    An earlier pack in `out_dir` (with its marker) stays whole until then; between the marker's removal
    and the new marker there are only complete shards under final names.
    """
    pending: list[tuple[Path, Path]] = []  # (temporary file, final name)
    problems: list[str] = []
    written: dict[str | int, PackedSplit] = {}
    try:
        for split, pattern in patterns.items():
            start = len(pending)
            _write_split(
                by_split[split], out_dir, pattern, max_shard_bytes, resample, encode, pending, problems
            )
            shards = tuple(final for _, final in pending[start:])
            written[split] = PackedSplit(split, pattern, shards, len(by_split[split]))
        if problems:
            raise PackError(
                f"{len(problems)} audio file(s) listed in {labels} cannot be packed; {out_dir} was left as "
                "it was:",
                problems,
            )
        (out_dir / READY_MARKER).unlink(missing_ok=True)  # not ready while the shards change
        for tmp, final in pending:
            os.replace(tmp, final)
        finals = {final for _, final in pending}
        for pattern in patterns.values():  # shards left by an earlier, larger pack of the same split
            for stale in out_dir.glob(pattern):
                if stale not in finals:
                    stale.unlink()
    except BaseException:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        raise
    return written


def _check_options(
    audio_dir: Path, max_shard_bytes: int, resample: int | None, encode: str | None
) -> str | None:
    if not audio_dir.is_dir():
        raise PackError(f"the audio folder {audio_dir} does not exist or is not a folder.")
    if max_shard_bytes < 2 * _RECORD:
        raise PackError(
            f"max_shard_bytes={max_shard_bytes} is too small: a tar of one sample takes at least "
            f"{2 * _RECORD} bytes. Give a bound in bytes such as 512000000.",
        )
    if resample is not None and (
        isinstance(resample, bool) or not isinstance(resample, int) or resample <= 0
    ):
        raise PackError(f"resample={resample!r} must be a sample rate in Hz (a positive integer).")
    if encode is not None and encode not in ENCODINGS:
        raise PackError(f"encode={encode!r} must be one of {list(ENCODINGS)}.")
    return encode or ("flac" if resample is not None else None)


# --- the labels table ---------------------------------------------------------------------------


def read_labels(path: str | os.PathLike) -> _Table:
    """Read a .csv/.tsv (header row first) or .jsonl/.ndjson (one JSON object a line) labels file.

    CSV cells stay text here; `pack` types the label columns only (a file named `7.wav` listed as `7`
    must stay the text '7').
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl", ".ndjson"):
        raise PackError(
            f"{path}: labels must be a .csv, .tsv or .jsonl file (JSON lines: one object per line); "
            f"got {path.suffix or 'no extension'!r}.",
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")  # -sig: a spreadsheet's byte order mark
    except FileNotFoundError:
        raise PackError(f"the labels file {path} does not exist.") from None
    except UnicodeDecodeError as exc:
        raise PackError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}). Save the labels file as UTF-8."
        ) from exc
    table = _read_jsonl(path, text) if suffix in (".jsonl", ".ndjson") else _read_csv(path, text, suffix)
    if not table.rows:
        raise PackError(f"{path}: the labels file has no rows.")
    table.typed = suffix in (".jsonl", ".ndjson")
    return table


def _rows_table(rows: Iterable[Mapping[str, Any]]) -> _Table:
    """Rows given in Python (e.g. `DataFrame.to_dict("records")`): values keep their types, as JSON lines."""
    table = _Table("the labels rows", [], typed=True)
    problems: list[str] = []
    for index, values in enumerate(rows):
        if not isinstance(values, Mapping) or not all(isinstance(k, str) for k in values):
            problems.append(f"labels[{index}]: a {type(values).__name__}, expected a dict of column -> value")
            continue
        table.columns.extend(name for name in values if name not in table.columns)
        table.rows.append(_Row(f"labels[{index}]", dict(values)))
    if problems or not table.rows:
        raise PackError(
            "labels: give one dict per audio file (column name -> value):", problems or ["no rows"]
        )
    return table


def _read_csv(path: Path, text: str, suffix: str) -> _Table:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",")
    try:
        header = next(reader)
    except StopIteration:
        raise PackError(f"{path}: the labels file is empty; its first line must name the columns.") from None
    except csv.Error as exc:
        raise PackError(f"{path}, line 1: {exc}") from exc
    header = [name.strip() for name in header]
    problems = [f"{path}, line 1: column {i + 1} has no name" for i, name in enumerate(header) if not name]
    repeated = sorted({n for n in header if n and header.count(n) > 1})
    problems += [f"{path}, line 1: column {name!r} is named twice" for name in repeated]
    if problems:
        raise PackError(f"{path}: the header row (line 1) must name every column once:", problems)
    table = _Table(path, header)
    line = reader.line_num + 1
    try:
        for cells in reader:
            where = f"{path}, line {line}"
            line = reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue  # blank line
            if len(cells) != len(header):
                problems.append(f"{where}: {len(cells)} fields, the header has {len(header)}")
                continue
            table.rows.append(
                _Row(where, {name: cell.strip() for name, cell in zip(header, cells, strict=True)})
            )
    except csv.Error as exc:
        problems.append(f"{path}, line {reader.line_num}: {exc}")
    if problems:
        raise PackError(f"{path}: rows that do not match the header row:", problems)
    return table


def _read_jsonl(path: Path, text: str) -> _Table:
    table = _Table(path, [])
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            values = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(values, dict):
            problems.append(f'{where}: a JSON {type(values).__name__}, expected an object {{"file": ...}}')
            continue
        table.columns.extend(name for name in values if name not in table.columns)
        table.rows.append(_Row(where, values))
    if problems:
        raise PackError(f"{path}: lines that are not one JSON object each:", problems)
    return table


def _infer_types(table: _Table, names: Sequence[str]) -> None:
    """A CSV column whose non-empty cells are all integers (all numbers) becomes ints (floats)."""
    for name in names:
        cells = [row.values[name] for row in table.rows if row.values[name] != ""]
        if cells and all(_INT.fullmatch(cell) for cell in cells):
            convert: Any = int
        elif cells and all(_is_number(cell) for cell in cells):
            convert = float
        else:
            continue
        for row in table.rows:
            if row.values[name] != "":
                row.values[name] = convert(row.values[name])


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


# --- rows to audio files -------------------------------------------------------------------------


def _audio_files(audio_dir: Path) -> dict[str, Path]:
    """Every non-hidden file below `audio_dir`, by POSIX path relative to it.

    Linked folders are followed (data sets are often linked in), each real folder once, so a link
    back up the tree does not loop.
    """
    found: dict[str, Path] = {}
    seen = {os.path.realpath(audio_dir)}
    for root, dirs, names in os.walk(audio_dir, followlinks=True):
        kept = []
        for d in sorted(dirs):
            real = os.path.realpath(os.path.join(root, d))
            if not d.startswith(".") and real not in seen:
                seen.add(real)
                kept.append(d)
        dirs[:] = kept
        for name in sorted(names):
            if not name.startswith("."):
                path = Path(root, name)
                # NFC: a name typed in the CSV matches the same name stored decomposed (macOS)
                found[unicodedata.normalize("NFC", path.relative_to(audio_dir).as_posix())] = path
    return found


def _extension(relative: str) -> str:
    """The last extension of the file name, lower case ('' without one)."""
    name = relative.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _pick_file_column(table: _Table, file_column: str | None) -> str:
    if file_column is not None:
        if file_column not in table.columns:
            raise PackError(
                f"{table.path}: no column {file_column!r} (the audio file of each row); the columns are "
                f"{table.columns}.",
            )
        return file_column
    candidates = [name for name in FILE_COLUMNS if name in table.columns]
    if len(candidates) != 1:
        found = f"several ({candidates})" if candidates else "none"
        raise PackError(
            f"{table.path}: which column names the audio file? Looked for one of {list(FILE_COLUMNS)}, found "
            f"{found}; the columns are {table.columns}. Name it with --file-column (file_column=).",
        )
    return candidates[0]


def _match(
    table: _Table,
    audio_dir: Path,
    split_column: str,
    file_column: str | None,
    columns: Sequence[str] | None,
    splits: Sequence[str] | None,
    encode: str | None,
    infer_types: bool,
    ignore_unlisted: bool,
) -> tuple[list[_Sample], bool, list[Any]]:
    """Rows to samples, with every problem of the table and the folder collected first."""
    if split_column not in table.columns:
        raise PackError(
            f"{table.path}: no split column {split_column!r}; the columns are {table.columns}. Name the "
            "column that says train/valid/test (or the fold) with --split-column (split_column=).",
        )
    file_column = _pick_file_column(table, file_column)
    if file_column == split_column:
        raise PackError(f"{table.path}: the file column and the split column are both {file_column!r}.")
    label_columns = [c for c in table.columns if c not in (file_column, split_column)]
    if columns is not None:
        unknown = [c for c in columns if c not in label_columns]
        if unknown:
            raise PackError(
                f"{table.path}: columns={list(unknown)} are not label columns of the file; they are "
                f"{label_columns}.",
            )
        label_columns = list(columns)
    if not label_columns:
        raise PackError(
            f"{table.path}: no label column: the file has only {file_column!r} and {split_column!r}. Add "
            "a column with each file's label.",
        )
    if infer_types and not table.typed:
        _infer_types(table, label_columns)
    files = _audio_files(audio_dir)
    by_stem: dict[str, list[str]] = {}
    for relative in files:
        if _extension(relative):
            by_stem.setdefault(relative.rsplit(".", 1)[0], []).append(relative)

    kfold, allowed = _split_kind([row.values.get(split_column) for row in table.rows], splits)
    problems: list[str] = []
    samples: list[_Sample] = []
    used: dict[str, str] = {}  # relative path -> where its row is
    keys: dict[str, tuple[str, str]] = {}  # key -> (where, relative path)
    named = f"the fold numbers {allowed}" if kfold else repr(allowed)
    for row in table.rows:
        value = row.values.get(file_column)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # JSON lines: "file": 7 names 7.wav
        if value is None or value == "" or not isinstance(value, str):
            problems.append(f"{row.where}: no audio file name in column {file_column!r} (got {value!r})")
            continue
        relative = unicodedata.normalize("NFC", _relative(value, audio_dir))
        if relative not in files and relative in by_stem and len(by_stem[relative]) == 1:
            relative = by_stem[relative][0]
        if relative not in files:
            hint = ""
            if relative in by_stem:
                hint = f"; several files match it: {by_stem[relative]}, give the extension"
            elif len(problems) < _SHOWN:  # difflib is slow; hints only for the lines shown
                close = difflib.get_close_matches(relative, list(files), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(f"{row.where}: label row without audio: no file {value!r} in {audio_dir}{hint}")
            continue
        if relative in used:
            problems.append(f"{row.where}: file {relative!r} is listed twice (also at {used[relative]})")
            continue
        used[relative] = row.where
        ext = _extension(relative)
        if ext not in AUDIO_EXTENSIONS and encode is None:
            kind = "audio" if ext in CONVERTIBLE_EXTENSIONS else "file"
            problems.append(
                f"{row.where}: file {relative!r}: a .{ext or '(no extension)'} {kind} cannot go into a "
                f"shard as it is (shards hold {', '.join(AUDIO_EXTENSIONS)}); convert it, or pass "
                "--encode flac"
            )
            continue
        key = safe_key(relative)
        if not key.strip("_"):
            problems.append(
                f"{row.where}: file {relative!r} gives the key {key!r}, with no letter or digit; rename "
                "the file"
            )
            continue
        if key in keys:
            other_where, other = keys[key]
            problems.append(
                f"{row.where}: duplicate key {key!r}: file {relative!r} and file {other!r} ({other_where}) "
                "become the same webdataset key; rename one of them"
            )
            continue
        keys[key] = (row.where, relative)
        split = _split_of(row.values.get(split_column), kfold, allowed)
        if split is None:
            problems.append(
                f"{row.where}: file {relative!r}: unknown split {row.values.get(split_column)!r} in column "
                f"{split_column!r}; the splits are {named} "
                "(declare other names with --splits NAME,NAME[,NAME] in train, valid, test order)"
            )
            continue
        meta = {c: row.values[c] for c in label_columns if c in row.values and row.values[c] != ""}
        samples.append(_Sample(key, files[relative], relative, ext, split, meta, row.where))
    audio = AUDIO_EXTENSIONS + CONVERTIBLE_EXTENSIONS
    for relative in files:
        if relative not in used and _extension(relative) in audio and not ignore_unlisted:
            problems.append(
                f"{audio_dir / relative}: audio file without a row in {table.path}; add a row for it, "
                "move it out of the audio folder, or pass --ignore-unlisted"
            )
    if not problems:
        problems = _check_splits(samples, kfold, allowed, splits, table.path)
    if problems:
        raise PackError(f"cannot pack {audio_dir} with {table.path}; nothing was written:", problems)
    return samples, kfold, allowed


def _relative(value: str, audio_dir: Path) -> str:
    text = value.strip().replace("\\", "/")
    path = Path(text)
    if path.is_absolute():
        for root in (audio_dir.resolve(), audio_dir.absolute()):
            if path.is_relative_to(root):
                return path.relative_to(root).as_posix()
        return text
    while text.startswith("./"):
        text = text[2:]
    return text


def _split_kind(values: list[Any], splits: Sequence[str] | None) -> tuple[bool, list[Any]]:
    """Folds when every split value is an integer (and no names were declared); names otherwise."""
    if splits is not None:
        declared = [str(s) for s in splits]
        if not 2 <= len(declared) <= 3 or len(set(declared)) != len(declared):
            raise PackError(
                f"splits={list(splits)}: give two or three different split names, in train, valid, test "
                "order (two: the last one is both validation and test).",
            )
        odd = [name for name in declared if not re.fullmatch(r"[\w-]+", name)]
        if odd:  # they name the shard files and their glob patterns
            raise PackError(
                f"splits={list(splits)}: {odd} can not name shard files; use letters, digits, '_' and '-'.",
            )
        return False, declared
    present = [v for v in values if v is not None and v != ""]
    if present and all(_is_fold(v) for v in present):
        return True, sorted({int(v) for v in present})
    return False, list(NAMED_SPLITS)


def _is_fold(value: Any) -> bool:
    if isinstance(value, str):
        return bool(re.fullmatch(r"[0-9]+", value))
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _split_of(value: Any, kfold: bool, allowed: list[Any]) -> str | int | None:
    if kfold:
        return int(value) if _is_fold(value) else None
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    return text if text in allowed else None


def _check_splits(
    samples: list[_Sample], kfold: bool, allowed: list[Any], splits: Sequence[str] | None, path: Path
) -> list[str]:
    present = {s.split for s in samples}
    if kfold:
        if len(present) < 2:
            return [f"{path}: k-fold data needs at least two folds; every row is in fold {sorted(present)}"]
        return []
    needed = [str(s) for s in splits] if splits is not None else ["train", "test"]
    return [
        f"{path}: no row is in split {name!r}; a task needs a training and a test split"
        + (" (valid is optional: without it, test is also the validation split)" if splits is None else "")
        for name in needed
        if name not in present
    ]


def _check_out_dir(out_dir: Path, patterns: Any, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise PackError(f"{out_dir} exists and is not a folder; choose another --out.")
    if overwrite or not out_dir.is_dir():
        return
    existing = sorted({p.name for pattern in patterns for p in out_dir.glob(pattern)})
    if (out_dir / READY_MARKER).exists():
        existing.append(READY_MARKER)
    if existing:
        raise PackError(
            f"{out_dir} already holds shards of these splits ({', '.join(existing[:5])}"
            f"{', ...' if len(existing) > 5 else ''}). Pass --force (overwrite=True) to replace them, or "
            "choose another --out.",
        )


# --- writing the shards -----------------------------------------------------------------------------


def _write_split(
    samples: list[_Sample],
    out_dir: Path,
    pattern: str,
    max_bytes: int,
    resample: int | None,
    encode: str | None,
    pending: list[tuple[Path, Path]],
    problems: list[str],
) -> None:
    """Write one split's samples, in key order, into as few shards of at most `max_bytes` as fit.

    An unreadable file is added to `problems` and the rest still checked (so one run names them all);
    once there is a problem, in this split or an earlier one, nothing more is written.
    """
    start = len(pending)
    tar: tarfile.TarFile | None = None
    used = 0  # bytes of the members in the open shard
    try:
        for sample in samples:
            try:
                audio, ext = _audio_bytes(sample, resample, encode)
            except _Unreadable as exc:
                problems.append(f"{sample.where}: file {sample.relative!r}: unreadable audio ({exc})")
                continue
            if problems:
                continue
            meta = json.dumps(sample.meta, ensure_ascii=False).encode("utf-8")
            members = [(f"{sample.key}.{ext}", audio), (f"{sample.key}.json", meta)]
            size = sum(_member_size(name, len(payload)) for name, payload in members)
            if _archive_size(size) > max_bytes:
                problems.append(
                    f"{sample.where}: file {sample.relative!r} needs {_archive_size(size)} bytes in a "
                    f"shard, more than --max-shard-size {max_bytes}; raise the bound"
                )
                continue
            if tar is not None and _archive_size(used + size) > max_bytes:
                _close(tar)
                tar = None
            if tar is None:
                final = out_dir / shard_name(pattern, len(pending) - start)
                fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{final.name}.", suffix=".tmp")
                os.chmod(tmp, shared_file_mode())
                pending.append((Path(tmp), final))
                # open across samples (closed by _close), so no `with`
                tar = tarfile.open(  # noqa: SIM115
                    fileobj=os.fdopen(fd, "wb"), mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8"
                )
                used = 0
            for name, payload in members:
                add_member(tar, name, payload)
            used += size
    finally:
        if tar is not None:
            _close(tar)


def _close(tar: tarfile.TarFile) -> None:
    """Close the shard and its file, on disk before it is renamed."""
    tar.close()
    tar.fileobj.flush()
    os.fsync(tar.fileobj.fileno())
    tar.fileobj.close()


class _Unreadable(Exception):
    pass


def _audio_bytes(sample: _Sample, resample: int | None, encode: str | None) -> tuple[bytes, str]:
    """The member's bytes and extension: the file as it is, or decoded and written again."""
    try:
        original = sample.path.read_bytes()
    except OSError as exc:
        raise _Unreadable(f"{type(exc).__name__}: {exc.strerror or exc}") from exc
    if cut := _wav_cut_short(original):
        promised, held = cut
        raise _Unreadable(
            f"the file is cut short: its header promises {promised} bytes of audio, it holds {held} "
            f"({held / promised:.0%}), so it would be packed as a shorter clip; an interrupted copy or "
            "download? copy or export it again"
        )
    try:
        with soundfile.SoundFile(io.BytesIO(original)) as handle:
            rate, subtype = handle.samplerate, handle.subtype
            if encode is None:  # decoded to the end, as stage 1 will, a block at a time (flat memory)
                blocks = handle.blocks(blocksize=_CHECK_FRAMES, dtype="float32", always_2d=True)
                frames = sum(_checked(block) for block in blocks)
            else:
                data = handle.read(dtype="float32", always_2d=True)
                frames = _checked(data)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        why = decoder_message(exc)
        raise _Unreadable(f"{why}; is it an audio file? re-export it as WAV or FLAC") from exc
    if frames == 0:
        raise _Unreadable("it holds no audio samples")
    if encode is None:
        return original, sample.ext
    if resample is not None and resample != rate:
        import soxr

        data = soxr.resample(data, rate, resample, quality="HQ").astype(np.float32, copy=False)
        rate = resample
    wide = subtype in ("PCM_24", "PCM_32", "FLOAT", "DOUBLE")
    limit = 1.0 - 2.0 ** (-23 if wide else -15)  # no wrap-around when a resampled peak passes full scale
    buffer = io.BytesIO()
    soundfile.write(
        buffer,
        np.clip(data, -1.0, limit),
        rate,
        format=encode.upper(),
        subtype="PCM_24" if wide else "PCM_16",
    )
    return buffer.getvalue(), encode


def _wav_cut_short(data: bytes) -> tuple[int, int] | None:
    """(bytes promised, bytes held) by a RIFF WAVE's data chunk that runs past the end of the file.

    libsndfile reads such a file without complaint, as a clip as long as the bytes that are there.
    A size of 0 or 0xFFFFFFFF is a writer's "unknown" (it streamed and could not go back): not a cut.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    start = 12
    while start + 8 <= len(data):
        size = int.from_bytes(data[start + 4 : start + 8], "little")
        if data[start : start + 4] == b"data":
            held = len(data) - start - 8
            streamed = size in (0, 0xFFFFFFFF)
            return (size, held) if held < size and not streamed else None
        start += 8 + size + (size & 1)  # chunks are padded to an even length
    return None


def _checked(block: np.ndarray) -> int:
    if not np.isfinite(block).all():
        raise _Unreadable("it holds NaN or Inf sample values")
    return block.shape[0]


def _member_size(name: str, size: int) -> int:
    """Bytes one member takes in a PAX tar: its header(s) plus the payload padded to 512."""
    info = tarfile.TarInfo(name)
    info.size = size
    header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    return len(header) + -(-size // _BLOCK) * _BLOCK


def _archive_size(members: int) -> int:
    """A closed tar: the members, two zero blocks, padded to tarfile's record size."""
    return -(-(members + 2 * _BLOCK) // _RECORD) * _RECORD


# --- the task file ----------------------------------------------------------------------------------


def task_skeleton(result: PackResult, *, label_column: str | None = None) -> str:
    """A task file that reads the shards `result` describes: save it as `<name>_task.py` and run it.

    The label is `label_column` (default: the column named `label`, else the only label column, else
    the first): integer or text values make a classification task over the classes found, numbers
    with a fraction a regression scored by MSE. Raises PackError where no such task can be written
    (the column holds lists or objects: write that task's label_processor by hand).
    """
    name = result.task_name
    if not name or name.startswith(".") or "/" in name:
        raise PackError(f"{result.out_dir}: its folder name {name!r} cannot be a task name.")
    ident = _identifier(name)
    available = list(result.label_columns)
    if label_column is None:
        label_column = "label" if "label" in available else available[0]
    elif label_column not in available:
        raise PackError(f"label_column={label_column!r} is not a packed column; they are {available}.")
    values = result.label_columns[label_column]
    others = [c for c in available if c != label_column]
    lines = [
        f'"""{name}: packed by `xares pack` from {result.audio_dir.name}/ ({result.samples} clips).',
        "",
        f"The label is the JSON field {label_column!r}"
        + (f"; the shards also hold {others} (see --label-column)." if others else "."),
        '"""',
        "",
    ]
    kinds = {type(v) for v in values}
    column = _py(label_column)
    if kinds <= {int} or kinds <= {str}:
        imports = "class_index, index_of"
        constants = [f"CLASSES = {_literal_list(sorted(set(values)))}", "_INDEX = index_of(CLASSES)"]
        label_type, label_value = "int", f"class_index(meta, {column}, _INDEX)"
        head = ["output_dim=len(CLASSES),", 'metric="accuracy",']
        head += ["class_names=CLASSES,"] if kinds <= {str} else []
        head += ["do_knn=True,"]
    elif kinds <= {int, float}:
        imports, constants = "field_of, number", []
        label_type, label_value = "float", f"number(field_of(meta, {column}), field={column})"
        head = ["output_dim=1,", 'metric="MSE",', 'criterion="MSELoss",', "do_knn=False,"]
    else:
        raise PackError(
            f"column {label_column!r} holds {sorted(k.__name__ for k in kinds)} values; a task file can be "
            "written for integer or text classes or numbers only. Choose another --label-column or write "
            "the label_processor by hand.",
        )
    if result.kfold:
        shards = [
            f"FOLDS = {_py(list(result.splits))}",
            'SHARDS = {fold: f"wds-audio-fold-{fold}-*.tar" for fold in FOLDS}',
        ]
        where = ["train_split=None,", "valid_split=None,", "test_split=None,", "k_fold_splits=FOLDS,"]
    else:
        names = list(result.splits)
        train, test = names[0], names[-1]
        valid = names[1] if len(names) == 3 else test
        shards = ["SHARDS = {", *(f"    {_py(s)}: {_py(result.splits[s].pattern)}," for s in names), "}"]
        where = [f"train_split={_py(train)},", f"valid_split={_py(valid)},", f"test_split={_py(test)},"]
    body = [
        f"name={_py(name)},  # the folder <env_root>/{name}/",
        f"formal_name={_py(name)},",
        "private=True,  # the shards are yours: never downloaded",
        "zenodo_id=None,",
        "encoder=encoder,",
        *where,
        "audio_tar_name_of_split=SHARDS,  # globbed in the task's folder",
        f"label_processor={ident}_label,",
        *head,
        "epochs=10,",
    ]
    lines += [
        f"from xares.labels import {imports}",
        "from xares.task import TaskConfig",
        "",
        *shards,
        *constants,
        "",
        "",
        f"def {ident}_label(meta: dict) -> {label_type}:",
        f"    return {label_value}",
        "",
        "",
        f"def {ident}_config(encoder) -> TaskConfig:",
        "    return TaskConfig(",
        *(f"        {line}" for line in body),
        "    )",
        "",
    ]
    return "\n".join(lines)


def _identifier(name: str) -> str:
    """A Python name for the task's functions: `my-task` -> `my_task`, `2024 set` -> `task_2024_set`."""
    ident = re.sub(r"\W", "_", name)
    return f"task_{ident}" if not ident.isidentifier() or ident[0].isdigit() else ident


def _py(value: Any) -> str:
    """A Python literal in the project's style (double quotes) for a str, int, float or list of them."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid Python string literal
    if isinstance(value, list):
        return "[" + ", ".join(_py(v) for v in value) + "]"
    return repr(value)


def _literal_list(values: list[Any]) -> str:
    if (
        len(values) > 3
        and all(type(v) is int for v in values)
        and values == list(range(values[0], values[-1] + 1))
    ):
        start = f"{values[0]}, " if values[0] else ""
        return f"list(range({start}{values[-1] + 1}))"
    one_line = _py(values)
    if len(one_line) <= 80:
        return one_line
    return "[\n" + "".join(f"    {_py(v)},\n" for v in values) + "]"
