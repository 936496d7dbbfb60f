"""The encoder contract: loading an encoder from a file, describing it, and fingerprinting it.

An encoder is a `torch.nn.Module` whose class name ends in `Encoder`, with `sampling_rate`,
`output_dim` and `hop_size_in_ms`, mapping audio [B, T] to frames [B, T', D].

Optional extension: `frame_count(num_samples) -> int`. An encoder that defines it declares that its
frames are local in time, so zero-padding a clip at the end leaves its first `frame_count(len)`
frames unchanged. Such encoders are batched across clips of different lengths (the pipeline pads and
trims); all others only ever see batches of clips of identical length, so padding never touches
their embeddings. check_audio_encoder verifies the declaration.

Optional extension: `fingerprint_files`, an iterable of paths (files or folders) whose bytes decide
the output but are not torch parameters or buffers: ONNX or CTranslate2 model files, a feature
extractor's config, the source of a base class defined in another file. encoder_fingerprint hashes
their contents (a folder: every file in it, by relative path), so new weights there mean new caches.

Optional extension: `num_layers = L`, a multi-layer encoder. Its forward returns [B, L, T', D]
(e.g. every hidden layer of a transformer, first to last) instead of [B, T', D]; the store keeps all
L layers, and the probes use one chosen layer or learn a weighted sum of them (TaskConfig.layer,
`xares run --layer K|weighted`) without encoding again. Declaring num_layers means the output is 4-D,
even for L = 1; without it the output is the 3-D default. check_audio_encoder verifies both.

Besides files, load_encoder builds encoders from names: 'hf:NAME[@layer=K]' (a Hugging Face model,
xares.encoders.hf) and 'hear:MODULE[:WEIGHTS]' (a HEAR API module, xares.encoders.hear).
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from xares.errors import EncoderError
from xares.importing import import_file

REQUIRED_ATTRIBUTES = ("sampling_rate", "output_dim", "hop_size_in_ms")


def find_encoder_class(module: Any, source: str) -> type:
    """The one class ending in 'Encoder' that the file defines (imported helpers are ignored)."""
    defined = {
        n: o for n, o in vars(module).items() if inspect.isclass(o) and o.__module__ == module.__name__
    }
    candidates = [obj for name, obj in defined.items() if name.endswith("Encoder")]
    if not candidates:
        raise EncoderError(
            f"{source}: no class whose name ends in 'Encoder' (classes defined there: "
            f"{list(defined) or 'none'}). Name your torch.nn.Module subclass e.g. 'MyModelEncoder'."
        )
    if len(candidates) > 1:
        names = sorted(c.__name__ for c in candidates)
        raise EncoderError(
            f"{source}: several classes end in 'Encoder' ({', '.join(names)}); X-ARES cannot tell which "
            f"to evaluate. Pick one with '{source}:{names[0]}', or rename the others."
        )
    return candidates[0]


def load_encoder(spec: str | Path) -> torch.nn.Module:
    """Build an encoder from 'path/to/file.py' or 'path/to/file.py:ClassName' (no arguments),
    'hf:NAME[@layer=K]' or 'hear:MODULE[:WEIGHTS]'."""
    text = str(spec)
    if text.startswith("hf:"):
        from xares.encoders.hf import load_hf_encoder

        return load_hf_encoder(text.removeprefix("hf:"))
    if text.startswith("hear:"):
        from xares.encoders.hear import load_hear_encoder

        return load_hear_encoder(text.removeprefix("hear:"))
    path_text, _, class_name = (
        text.partition(":") if text.count(":") == 1 and ".py:" in text else (text, "", "")
    )
    module = import_file(path_text, purpose="encoder")
    if class_name:
        cls = getattr(module, class_name, None)
        if not inspect.isclass(cls):
            raise EncoderError(f"{path_text}: no class named {class_name!r}.")
    else:
        cls = find_encoder_class(module, path_text)
    try:
        encoder = cls()
    except Exception as exc:
        raise EncoderError(f"{path_text}: {cls.__name__}() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(encoder, torch.nn.Module):
        raise EncoderError(f"{path_text}: {cls.__name__} is not a torch.nn.Module subclass.")
    missing = [a for a in REQUIRED_ATTRIBUTES if not hasattr(encoder, a)]
    if missing:
        raise EncoderError(
            f"{path_text}: {cls.__name__} lacks {', '.join(missing)}; set them in __init__ "
            "(sampling_rate in Hz, output_dim = D, hop_size_in_ms = time between output frames)."
        )
    return encoder


def encoder_fingerprint(encoder: torch.nn.Module) -> str:
    """Hash of everything that decides the encoder's output: class, source, weights, declared rates.

    Keying caches on the class name alone (as upstream does) silently reuses stale embeddings after
    a weight update; this key changes with any parameter or buffer value.
    """
    digest = hashlib.sha256()
    cls = type(encoder)
    digest.update(cls.__qualname__.encode())  # not the module path: moving the file keeps the caches
    try:
        digest.update(Path(inspect.getfile(cls)).read_bytes())
    except (TypeError, OSError):
        digest.update(b"<no source file>")
    for attr in REQUIRED_ATTRIBUTES:
        digest.update(f"{attr}={getattr(encoder, attr, None)!r}".encode())
    layers = declared_layers(encoder)
    if layers is not None:  # only when declared: 3-D encoders keep their old keys
        digest.update(f"num_layers={layers!r}".encode())
    state = encoder.state_dict()
    for name in sorted(state):
        tensor = state[name]
        digest.update(name.encode())
        if isinstance(tensor, torch.Tensor):
            digest.update(f"{tuple(tensor.shape)}{tensor.dtype}".encode())
            digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    for path in getattr(encoder, "fingerprint_files", None) or ():
        _hash_path(digest, Path(path), owner=cls.__name__)
    return digest.hexdigest()


def _hash_path(digest: Any, path: Path, *, owner: str) -> None:
    """Feed a file's bytes, or every file of a folder (by relative path), into the digest."""
    if path.is_file():
        files = [("", path)]  # the bytes alone: a renamed copy of the same weights keeps the key
    elif path.is_dir():
        files = sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file())
    else:
        raise EncoderError(
            f"{owner}.fingerprint_files names {path}, which does not exist; list only the files the "
            "encoder reads (its model weights), or fix the path."
        )
    for name, file in files:
        digest.update(f"file:{name}:{file.stat().st_size}".encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)


def declared_layers(encoder: object) -> int | None:
    """`num_layers` of a multi-layer encoder (output [B, L, T', D]); None for the default [B, T', D]."""
    return getattr(encoder, "num_layers", None)


@dataclass(frozen=True)
class EncoderInfo:
    """What results.json records about the encoder under test."""

    name: str
    fingerprint: str
    source: str
    sampling_rate: int
    hop_size_in_ms: float
    output_dim: int
    num_parameters: int
    pads_safely: bool
    num_layers: int | None = None  # None: the 3-D contract; L: forward returns [B, L, T', D]

    @property
    def store_name(self) -> str:
        """Directory name of this encoder's embeddings: readable, and unique per fingerprint."""
        return f"{self.name}-{self.fingerprint[:12]}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_encoder(encoder: torch.nn.Module, source: str = "") -> EncoderInfo:
    return EncoderInfo(
        name=type(encoder).__name__,
        fingerprint=encoder_fingerprint(encoder),
        source=str(source),
        sampling_rate=int(encoder.sampling_rate),
        hop_size_in_ms=float(encoder.hop_size_in_ms),
        output_dim=int(encoder.output_dim),
        num_parameters=sum(p.numel() for p in encoder.parameters()),
        pads_safely=callable(getattr(encoder, "frame_count", None)),
        num_layers=None if declared_layers(encoder) is None else int(declared_layers(encoder)),
    )
