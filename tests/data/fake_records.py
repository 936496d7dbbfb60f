"""Tiny, format-faithful stand-ins for the Zenodo records of the public X-ARES tasks.

For every task file in src/tasks/ (loaded with `load_task_config`, as the command line loads it) this
builds what the task's Zenodo record would hold, in miniature:

- shard files named as the published records name them (upstream-format.md (a), "Shard naming"):
  fixed per-fold names for k-fold tasks, 7-digit `<prefix>_<split>_NNNNNNN.tar`, 6-digit
  `wds-audio-<split>-NNNNNN.tar` and `<split>-NNNNNN.tar`, subset files such as
  `train_subset_2k_NNNNNNN.tar`, several shards per split where the task's mini selection names them;
- plain uncompressed webdataset tars of `<key>.<ext>` + `<key>.json`, written by `write_shards`;
- tiny clips (0.3-1 s; a little longer for the two frame tasks) in the dataset's own codec and rate
  (16 kHz FLAC for LibriSpeech and ASVspoof, 44.1 kHz WAV for ESC-50, 44.1 kHz stereo WAV for
  UrbanSound8K, MP3 for the Free Music Archive, 22.05 kHz WAV for GTZAN, ...), each class a different
  tone so that a probe has something to learn;
- JSON with the task's real field names and real class names: FSD50k `soundevent` strings joined by
  ';', DESED event lists with onset/offset/label (several classes joined by ','), MAESTRO notes with
  start/end/note, Clotho objects of five captions, LibriSpeech `speaker`/`gender`/`trans`, ESC-50 and
  LibriCount integer labels, speechocean762's `accuracy` score, Fluent Speech Commands transcriptions
  with the typographic apostrophe.

Every JSON written is passed through the task's own label_processor, so a fake that the task could not
read fails here, not in the middle of an end-to-end run. Records are flat files as upstream publishes
them, except GTZAN's, which is one zip archive of the shards (to exercise extraction). LibriSpeech and
LibriSpeech-MF share a record; it is built once and satisfies both tasks' readers.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from xares.data.shards import audio_to_bytes, write_shards
from xares.encoder import import_file
from xares.task import load_task_config
from xares.taskconfig import TaskConfig

REPO = Path(__file__).resolve().parents[2]
TASKS_DIR = REPO / "src" / "tasks"
TASK_FILES = sorted(TASKS_DIR.glob("*_task.py"))  # the 22 public tasks and speechocean762
MEL_ENCODER = REPO / "example" / "mel" / "mel_encoder.py"

# What task files read from the encoder while building their config (DESED and MAESTRO: the hop).
ENCODER_STUB = SimpleNamespace(sampling_rate=16000, hop_size_in_ms=10, output_dim=64)


@dataclass(frozen=True)
class Codec:
    ext: str  # the audio member's extension
    rate: int
    channels: int = 1
    fmt: str = "WAV"
    subtype: str | None = None


WAV16 = Codec("wav", 16000, subtype="PCM_16")
FLAC16 = Codec("flac", 16000, fmt="FLAC", subtype="PCM_16")
WAV44 = Codec("wav", 44100, subtype="PCM_16")
WAV48 = Codec("wav", 48000, subtype="PCM_16")

CODECS: dict[str, Codec] = {
    "asvspoof2015": FLAC16,  # ASVspoof 2015 ships 16 kHz FLAC
    "clotho": WAV44,
    "cremad": WAV16,
    "desed": WAV44,
    "esc50": WAV44,  # the tool copies the 44.1 kHz WAVs as they are
    "fluentspeechcommands": WAV16,
    "freemusicarchive": Codec("mp3", 44100, channels=2, fmt="MP3", subtype="MPEG_LAYER_III"),
    "fsd50k": WAV44,
    "fsdkaggle2018": WAV44,
    "gtzan_genre": Codec("wav", 22050, subtype="PCM_16"),
    "libricount": WAV16,
    "librispeech": FLAC16,
    "librispeechmalefemale": FLAC16,
    "maestro": WAV44,
    "nsynthinstument": WAV16,
    "ravdess": WAV48,
    "speechcommandsv1": WAV16,
    "speechocean762": WAV16,
    "urbansound8k": Codec("wav", 44100, channels=2, subtype="PCM_16"),
    "vocalimitations": WAV44,
    "vocalsound": WAV16,
    "voxceleb1": WAV16,
    "voxlingua33": WAV16,
}

# Shard names that the generic rule of `shard_names` does not give: (task, split) -> format string.
NAME_FORMATS: dict[tuple[str, str], str] = {
    ("voxlingua33", "train_subset"): "train_subset_2k_{:07d}.tar",  # the record's 2k-utterance subset
    ("voxlingua33", "dev"): "dev_{:07d}.tar",  # the record's 7-digit scheme
}
# Splits written as several shards, as their mini selections name them (default: one shard a split).
SHARD_COUNTS: dict[tuple[str, str], int] = {
    ("voxceleb1", "voxceleb1_train"): 3,  # voxceleb1_train_00000{00..02}.tar
    ("voxlingua33", "train_subset"): 2,  # train_subset_2k_00000{00..01}.tar
    ("nsynthinstument", "nsynth_valid"): 2,  # nsynth_valid_0000001.tar exists
    ("esc50", 1): 2,  # the ESC-50 tool writes 4 shards a fold; two show the numbering
}
ZIPPED = {"gtzan_genre"}  # published here as one zip archive holding the shards

CLASSES_USED = 3  # classes a task's fake uses (spread over its class list)
PER_CLASS = {"train": 3, "other": 2, "fold": 1}  # clips per class used, per split kind

LIBRISPEECH_WORDS = ["YES", "NO", "GO", "ON", "UP"]
CAPTION_WORDS = ["a dog barks", "rain falls", "a bell rings", "birds sing", "a car passes"]


@dataclass
class FakeRecord:
    """The files one Zenodo record holds, and what each task using it should find after extraction."""

    record_id: str
    files: dict[str, bytes]
    shards: dict[str, list[str]] = field(default_factory=dict)  # task name -> shard file names
    tasks: list[str] = field(default_factory=list)


def task_config(task_file: Path, env_root: Path | None = None) -> TaskConfig:
    return load_task_config(task_file, ENCODER_STUB, env_root=env_root)


def shard_names(config: TaskConfig, split: Any, count: int) -> list[str]:
    """File names for `count` shards of a split, as the published record names them."""
    pattern = config.shard_pattern(split)
    if (config.name, split) in NAME_FORMATS:
        return [NAME_FORMATS[config.name, split].format(i) for i in range(count)]
    if "*" not in pattern:  # fixed per-fold names: one file per fold
        if count != 1:
            raise ValueError(f"{config.name}: split {split!r} is one fixed file ({pattern})")
        return [pattern]
    prefix = pattern.removesuffix("*.tar")
    if "*" in prefix or not pattern.endswith("*.tar"):
        raise ValueError(f"{config.name}: no naming rule for pattern {pattern!r}")
    if prefix.endswith(("-", "_")):  # wds-audio-fold-<k>-NNNNNN.tar
        fmt = prefix + "{:06d}.tar"
    elif "_" in prefix and "-" not in prefix:  # <prefix>_<split>_NNNNNNN.tar
        fmt = prefix + "_{:07d}.tar"
    else:  # wds-audio-<split>-NNNNNN.tar, <split>-NNNNNN.tar
        fmt = prefix + "-{:06d}.tar"
    return [fmt.format(i) for i in range(count)]


def spread(classes: list[Any], count: int) -> list[Any]:
    """`count` classes from across the list (first and last included), plus the first non-ASCII name."""
    picked = [classes[round(i * (len(classes) - 1) / (count - 1))] for i in range(count)]
    unusual = next((c for c in classes if isinstance(c, str) and not c.isascii()), None)
    if unusual is not None and unusual not in picked:
        picked[-1] = unusual
    return picked


def _tone(rng: np.random.Generator, codec: Codec, seconds: float, freqs: Iterable[float]) -> np.ndarray:
    t = np.arange(round(seconds * codec.rate)) / codec.rate
    wave = 0.02 * rng.standard_normal(t.size)
    for freq in freqs:
        wave += 0.3 * np.sin(2 * np.pi * min(freq, 0.4 * codec.rate) * t + rng.uniform(0, 2 * np.pi))
    wave = wave.astype(np.float32)
    return np.stack([wave, 0.8 * wave], axis=1) if codec.channels == 2 else wave


def _class_freq(index: int) -> float:
    return 220.0 * 1.6**index


# --- the JSON of one sample, per task -------------------------------------------------------------


@dataclass
class Clip:
    meta: Any
    freqs: list[float]
    seconds: float


ClipMaker = Callable[[np.random.Generator, int, int], Clip]  # (rng, class number, clip number)


def _single_label(field_name: str, classes: list[Any]) -> tuple[list[Any], ClipMaker]:
    picked = spread(classes, CLASSES_USED)

    def make(rng: np.random.Generator, c: int, n: int) -> Clip:
        return Clip({field_name: picked[c]}, [_class_freq(c)], rng.uniform(0.3, 1.0))

    return picked, make


def _fsd50k(classes: list[str]) -> tuple[list[Any], ClipMaker]:
    picked = spread(classes, CLASSES_USED)

    def make(rng: np.random.Generator, c: int, n: int) -> Clip:
        names = [picked[c]] + ([picked[(c + 1) % len(picked)]] if n % 2 else [])
        freqs = [_class_freq(picked.index(name)) for name in names]
        return Clip({"soundevent": ";".join(names)}, freqs, rng.uniform(0.3, 1.0))

    return picked, make


def _desed(classes: list[str]) -> tuple[list[Any], ClipMaker]:
    picked = spread(classes, CLASSES_USED)

    def make(rng: np.random.Generator, c: int, n: int) -> Clip:
        other = picked[(c + 1) % len(picked)]
        events = [
            {"onset": 0.1, "offset": 0.7, "label": picked[c]},
            {"onset": 0.9, "offset": 1.4, "label": f"{picked[c]},{other}"},  # one event, two classes
        ]
        return Clip(events, [_class_freq(c)], 1.5)

    return picked, make


def _maestro(classes: list[int]) -> tuple[list[Any], ClipMaker]:
    picked = [60, 64, 67]  # C4, E4, G4 (MIDI pitch; classes are 21..107)
    assert all(p in classes for p in picked)

    def make(rng: np.random.Generator, c: int, n: int) -> Clip:
        notes = [
            {"start": 0.0, "end": 0.5, "note": picked[c]},
            {"start": 0.4, "end": 1.2, "note": picked[(c + 1) % 3]},
        ]
        freqs = [440.0 * 2 ** ((p - 69) / 12) for p in (picked[c], picked[(c + 1) % 3])]
        return Clip(notes, freqs, 1.2)

    return picked, make


def _clotho() -> tuple[list[Any], ClipMaker]:
    picked = list(range(CLASSES_USED))

    def make(rng: np.random.Generator, c: int, n: int) -> Clip:
        captions = {
            f"caption_{i + 1}": f"{CAPTION_WORDS[c]} {adjective}"
            for i, adjective in enumerate(["loudly", "softly", "nearby", "far away", "twice"])
        }
        return Clip(captions, [_class_freq(c)], rng.uniform(0.3, 1.0))

    return picked, make


def _librispeech() -> tuple[list[Any], ClipMaker]:
    """One maker for the shared record: both LibriSpeech tasks read the same JSON."""
    picked = ["M", "F"]

    def make(rng: np.random.Generator, c: int, n: int) -> Clip:
        words = [LIBRISPEECH_WORDS[(n + i) % len(LIBRISPEECH_WORDS)] for i in range(2)]
        meta = {"speaker": 19 + 7 * c + n % 2, "gender": picked[c], "trans": " ".join(words)}
        return Clip(meta, [_class_freq(c)], rng.uniform(0.7, 1.0))

    return picked, make


def _speechocean762() -> tuple[list[Any], ClipMaker]:
    picked = [3.0, 6.0, 9.0]  # accuracy scores 0-10

    def make(rng: np.random.Generator, c: int, n: int) -> Clip:
        return Clip({"accuracy": picked[c]}, [_class_freq(c)], rng.uniform(0.3, 1.0))

    return picked, make


LABEL_FIELDS = {
    "asvspoof2015": "binary_spoof",
    "cremad": "label",
    "esc50": "label",
    "fluentspeechcommands": "transcription",
    "freemusicarchive": "genre",
    "fsdkaggle2018": "sound",
    "gtzan_genre": "genre",
    "libricount": "num_speakers",
    "nsynthinstument": "instrument_family_str",
    "ravdess": "emotion",
    "speechcommandsv1": "labels",
    "urbansound8k": "soundevent",
    "vocalimitations": "imitation",
    "vocalsound": "label",
    "voxceleb1": "speakerid",
    "voxlingua33": "labels",
}


def clip_maker(config: TaskConfig, module: Any) -> tuple[list[Any], ClipMaker]:
    name = config.name
    if name in LABEL_FIELDS:
        return _single_label(LABEL_FIELDS[name], list(module.CLASSES))
    makers: dict[str, Callable[[], tuple[list[Any], ClipMaker]]] = {
        "fsd50k": lambda: _fsd50k(list(module.CLASSES)),
        "desed": lambda: _desed(list(module.CLASSES)),
        "maestro": lambda: _maestro(list(module.CLASSES)),
        "clotho": _clotho,
        "librispeech": _librispeech,
        "librispeechmalefemale": _librispeech,
        "speechocean762": _speechocean762,
    }
    if name not in makers:
        raise KeyError(f"no fake record for task {name!r}: add it to tests/data/fake_records.py")
    return makers[name]()


# --- records --------------------------------------------------------------------------------------


def _split_kind(config: TaskConfig, split: Any) -> str:
    if config.is_kfold:
        return "fold"
    return "train" if split == config.train_split else "other"


def _seed(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little")


def build_shards(task_file: Path, out_dir: Path) -> dict[str, list[Path]]:
    """Write the task's fake shards into `out_dir`; returns split -> shard paths."""
    config = task_config(task_file)
    module = import_file(task_file, purpose="task")
    codec = CODECS[config.name]
    picked, make = clip_maker(config, module)
    record_seed = config.zenodo_id  # tasks sharing a record get the same bytes
    written: dict[str, list[Path]] = {}
    for split in config.data_splits():
        rng = np.random.default_rng(_seed(record_seed, str(split)))
        per_class = PER_CLASS[_split_kind(config, split)]
        samples = []
        for n in range(per_class):
            for c in range(len(picked)):
                clip = make(rng, c, n)
                config.label_processor(clip.meta)  # the task must be able to read what we publish
                wave = _tone(rng, codec, clip.seconds, clip.freqs)
                audio = audio_to_bytes(wave, codec.rate, codec.fmt, codec.subtype)
                key = f"{str(split).replace('-', '_')}_{c:02d}_{n:02d}"
                samples.append((key, audio, codec.ext, clip.meta))
        count = SHARD_COUNTS.get((config.name, split), 1)
        names = shard_names(config, split, count)
        paths = []
        per_shard = -(-len(samples) // count)
        for index, name in enumerate(names):
            chunk = samples[index * per_shard : (index + 1) * per_shard]
            paths.extend(write_shards(chunk, out_dir, name))
        written[str(split)] = paths
    return written


def build_record(task_file: Path, work_dir: Path | None = None) -> FakeRecord:
    """The task's fake record: record id = the task's zenodo_id, files as Zenodo would list them."""
    config = task_config(task_file)
    if not config.zenodo_id:
        raise ValueError(f"{task_file.name}: no zenodo_id")
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        shards = build_shards(task_file, Path(tmp))
        paths = sorted({p for split in shards.values() for p in split})
        shard_files = {p.name: p.read_bytes() for p in paths}
    if config.name in ZIPPED:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
            for key, data in shard_files.items():
                archive.writestr(key, data)
        files = {f"{config.name}.zip": buffer.getvalue()}
    else:
        files = shard_files
    return FakeRecord(
        record_id=config.zenodo_id,
        files=files,
        shards={config.name: sorted(shard_files)},
        tasks=[config.name],
    )


def build_records(task_files: Iterable[Path], work_dir: Path | None = None) -> dict[str, FakeRecord]:
    """Records for several tasks, by record id; a record shared by tasks is built once (and checked)."""
    records: dict[str, FakeRecord] = {}
    for task_file in task_files:
        record = build_record(task_file, work_dir)
        known = records.get(record.record_id)
        if known is None:
            records[record.record_id] = record
            continue
        if known.files != record.files:
            raise ValueError(f"record {record.record_id}: tasks sharing it built different files")
        known.shards.update(record.shards)
        known.tasks.extend(record.tasks)
    return records
