"""HEAR API modules as X-ARES encoders: ``xares run hear:MODULE[:WEIGHTS] TASK.py...``.

MODULE is an importable module name (``hearbaseline.naive``) or a path to a ``.py`` file; WEIGHTS,
if given, is passed to ``load_model(model_file_path=WEIGHTS)``. The module must implement the HEAR
2021 API (https://hearbenchmark.com/hear-api.html):

- ``load_model(model_file_path="") -> model`` with ``model.sample_rate`` and
  ``model.timestamp_embedding_size``;
- ``get_timestamp_embeddings(audio[n_sounds, n_samples], model) -> (embeddings[n_sounds, T, D],
  timestamps[n_sounds, T] in milliseconds)``.

The frames are the timestamp embeddings; ``hop_size_in_ms`` is the median spacing of the
timestamps, measured once at load on 2 s of silence (10 s if that yields a single timestamp).
``get_scene_embeddings`` is not used: X-ARES pools frames itself. The fingerprint covers the model's
torch parameters, the module's source file and the weights file.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

import torch

from xares.encoders import encoder_class
from xares.errors import EncoderError
from xares.importing import import_file

logger = logging.getLogger(__name__)

HEAR_FUNCTIONS = ("load_model", "get_timestamp_embeddings")
HEAR_ATTRIBUTES = ("sample_rate", "timestamp_embedding_size")


def _import(module_name: str) -> Any:
    if module_name.endswith(".py") or Path(module_name).is_file():
        return import_file(module_name, purpose="HEAR module")
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise EncoderError(
            f"hear:{module_name}: cannot import the module ({type(exc).__name__}: {exc}). Install the "
            "package that provides it, or give the path of a .py file: 'hear:path/to/module.py'."
        ) from exc


def _as_tensor(value: Any, what: str, source: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise EncoderError(
            f"{source}: get_timestamp_embeddings returned {what} that is not a tensor"
        ) from exc


class HearEncoder(torch.nn.Module):
    """Wraps a HEAR module; the model is a submodule when it is a torch.nn.Module (it then moves with
    `.to(device)` and its parameters enter the fingerprint)."""

    def __init__(self, module_name: str, weights: str = "") -> None:
        super().__init__()
        self.source = f"hear:{module_name}" + (f":{weights}" if weights else "")
        self.hear = _import(module_name)
        missing = [f for f in HEAR_FUNCTIONS if not callable(getattr(self.hear, f, None))]
        if missing:
            raise EncoderError(
                f"{self.source}: the module lacks {', '.join(missing)}; a HEAR module defines load_model("
                "model_file_path='') and get_timestamp_embeddings(audio, model) -> (embeddings, timestamps)."
            )
        if weights and not Path(weights).exists():
            raise EncoderError(f"{self.source}: weights file {weights} does not exist.")
        try:
            model = self.hear.load_model(weights) if weights else self.hear.load_model()
        except Exception as exc:
            raise EncoderError(f"{self.source}: load_model raised {type(exc).__name__}: {exc}") from exc
        absent = [a for a in HEAR_ATTRIBUTES if not hasattr(model, a)]
        if absent:
            raise EncoderError(
                f"{self.source}: the model from load_model lacks {', '.join(absent)} (HEAR API attributes)."
            )
        self.model = model
        self.sampling_rate = int(model.sample_rate)
        self.output_dim = int(model.timestamp_embedding_size)
        self.hop_size_in_ms = self._measure_hop()
        module_file = getattr(self.hear, "__file__", None)  # none for a namespace package
        self.fingerprint_files = [Path(f) for f in (__file__, module_file, weights) if f]

    def _embed(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings, timestamps = self.hear.get_timestamp_embeddings(audio, self.model)
        embeddings = _as_tensor(embeddings, "embeddings", self.source)
        timestamps = _as_tensor(timestamps, "timestamps", self.source)
        if embeddings.dim() != 3 or embeddings.shape[0] != audio.shape[0]:
            raise EncoderError(
                f"{self.source}: get_timestamp_embeddings should return embeddings [n_sounds, T, D] for "
                f"audio {tuple(audio.shape)}, got {tuple(embeddings.shape)}."
            )
        if timestamps.shape != embeddings.shape[:2]:
            raise EncoderError(
                f"{self.source}: timestamps should be [n_sounds, T] = {tuple(embeddings.shape[:2])}, "
                f"got {tuple(timestamps.shape)}."
            )
        return embeddings, timestamps

    def _measure_hop(self) -> float:
        for seconds in (2.0, 10.0):
            silence = torch.zeros(1, int(seconds * self.sampling_rate))
            with torch.inference_mode():
                _, timestamps = self._embed(silence)
            if timestamps.shape[1] >= 2:
                hop = float(torch.diff(timestamps[0].double()).median())
                if hop <= 0:
                    raise EncoderError(
                        f"{self.source}: timestamps do not increase: {timestamps[0][:5].tolist()}"
                    )
                return hop
        raise EncoderError(f"{self.source}: 10 s of audio gave a single timestamp; cannot derive the hop.")

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        embeddings, _ = self._embed(audio)
        return embeddings.float()


def load_hear_encoder(text: str) -> torch.nn.Module:
    """Build the encoder of 'MODULE[:WEIGHTS]' (the part after 'hear:'), named after the module."""
    module_name, _, weights = text.partition(":")
    if not module_name:
        raise EncoderError("hear: needs a module, e.g. 'hear:hearbaseline.naive' or 'hear:my_module.py'.")
    label = Path(module_name).stem if module_name.endswith(".py") else module_name
    return encoder_class(HearEncoder, label)(module_name, weights)
