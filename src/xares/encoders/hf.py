"""Hugging Face audio models as X-ARES encoders: ``xares run hf:NAME[@layer=K] TASK.py...``.

NAME is a model id on the Hugging Face hub (``facebook/wav2vec2-base``) or a local folder written by
``save_pretrained`` (``hf:/models/my-wav2vec2``). The model is built with transformers'
``AutoFeatureExtractor`` and ``AutoModel``, so the audio goes through the model's own feature
extractor (its normalisation: e.g. zero-mean unit-variance per clip for wav2vec2-base and
data2vec-audio, none for HuBERT; Whisper's log-mel). Two families are supported:

- **wav2vec2-style** (wav2vec2, HuBERT, data2vec-audio, WavLM, ...: a convolutional feature encoder
  with ``conv_kernel``/``conv_stride`` in the config): 20 ms frames at 16 kHz. Long audio runs in
  10 s chunks that overlap by the convolution's extra context (80 samples), so the frames of the
  chunks line up exactly with those of a single pass: ``(N - 400) // 320 + 1`` frames.
- **Whisper** (encoder only): its encoder takes exactly 30 s of log-mel (transformers refuses
  anything else), so each 30 s chunk is zero-padded to 30 s and only the frames that cover real
  audio are kept. Its frames are 20 ms apart (10 ms mel hop, then a stride-2 convolution); the
  public X-ARES example declares 10 ms, which misplaces frame-level labels.

Spec options follow ``@``, comma-separated: ``layer=K`` takes ``hidden_states[K]`` as transformers
returns them (0 = the input of the first transformer layer, K = the output of layer K; negative
counts from the end) instead of the last hidden state; ``layer=all`` returns every hidden state,
[B, L, T', D] with L = hidden layers + 1 (``num_layers``), so one encode serves probes of any layer
or of a learned weighted sum (``xares run --layer K|weighted``, xares.probes.layers);
``revision=REV`` pins a hub revision. Example: ``hf:facebook/wav2vec2-base@layer=6``.

Weights are looked up in the local Hugging Face cache first (``local_files_only``), and downloaded
only when missing and ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` are not set.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from xares.encoders import encoder_class
from xares.errors import EncoderError

logger = logging.getLogger(__name__)

SPEC_OPTIONS = ("layer", "revision")
ALL_LAYERS = "all"
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class HFSpec:
    name: str
    layer: int | str | None = None  # None: the last hidden state; K; or ALL_LAYERS
    revision: str | None = None

    @property
    def label(self) -> str:
        stem = Path(self.name.rstrip("/")).name or self.name
        if self.layer == ALL_LAYERS:
            return f"{stem} all layers"
        return stem if self.layer is None else f"{stem} layer{self.layer}"


def parse_hf_spec(text: str) -> HFSpec:
    """'NAME[@key=value,...]' (the part after 'hf:') -> HFSpec; unknown options are an error."""
    name, options = text, ""
    head, at, tail = text.rpartition("@")
    if at and "=" in tail:
        name, options = head, tail
    if not name:
        raise EncoderError("hf: needs a model name or folder, e.g. 'hf:facebook/wav2vec2-base'.")
    values: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in options.split(","))):
        key, eq, value = item.partition("=")
        if not eq or key not in SPEC_OPTIONS:
            raise EncoderError(
                f"hf:{text}: unknown option {item!r}; options are {', '.join(SPEC_OPTIONS)} "
                "(e.g. 'hf:facebook/wav2vec2-base@layer=6')."
            )
        values[key] = value
    layer: int | str | None = values.get("layer")
    if layer is not None and layer != ALL_LAYERS:
        try:
            layer = int(layer)
        except ValueError:
            raise EncoderError(
                f"hf:{text}: layer must be an integer or {ALL_LAYERS!r}, got {layer!r}."
            ) from None
    return HFSpec(name=name, layer=layer, revision=values.get("revision") or None)


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise EncoderError(
            "hf: encoders need transformers: pip install 'xares[hf]' (or pip install transformers)."
        ) from exc
    return transformers


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick look before going online: huggingface_hub retries for a minute when there is no network."""
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _from_pretrained(factory: Any, spec: HFSpec, what: str) -> Any:
    """Cache (or local folder) first; the hub only when the files are missing and we may go online."""
    kwargs = {"revision": spec.revision} if spec.revision else {}
    try:
        return factory.from_pretrained(spec.name, local_files_only=True, **kwargs)
    except (OSError, ValueError) as exc:
        cached_error = exc
    if _offline() or Path(spec.name).is_dir() or not _hub_reachable():
        where = "that folder" if Path(spec.name).is_dir() else "the local cache (the hub is not reachable)"
        raise EncoderError(
            f"hf:{spec.name}: no {what} in {where} ({type(cached_error).__name__}: {cached_error}). "
            "On a machine with internet run "
            f"`hf download {spec.name}` and copy the cache folder (HF_HOME, default ~/.cache/huggingface), "
            "or save the model with save_pretrained and pass 'hf:/path/to/folder'."
        ) from cached_error
    try:
        return factory.from_pretrained(spec.name, **kwargs)
    except (OSError, ValueError) as exc:
        raise EncoderError(
            f"hf:{spec.name}: cannot load the {what} ({type(exc).__name__}: {exc}). Check the model id; "
            "without internet, download it elsewhere (`hf download NAME`) and copy the cache folder "
            "(HF_HOME), or pass a local folder 'hf:/path/to/folder'."
        ) from exc


def _conv_geometry(config: Any) -> tuple[int, int]:
    """(receptive field, stride) in samples of a wav2vec2-style convolutional feature encoder."""
    receptive, stride = 1, 1
    for kernel, step in zip(config.conv_kernel, config.conv_stride, strict=True):
        receptive += (kernel - 1) * stride
        stride *= step
    return receptive, stride


class HuggingFaceEncoder(torch.nn.Module):
    """A transformers audio model (wav2vec2-style or Whisper) as an X-ARES encoder.

    Subclass it with a fixed model name to get an encoder file (see example/wav2vec2), or use
    'hf:NAME' on the command line.
    """

    def __init__(
        self,
        name: str,
        *,
        layer: int | str | None = None,
        revision: str | None = None,
        chunk_seconds: float = 10.0,
    ) -> None:
        super().__init__()
        spec = HFSpec(name=str(name), layer=layer, revision=revision)
        transformers = _transformers()
        self.feature_extractor = _from_pretrained(
            transformers.AutoFeatureExtractor, spec, "feature extractor"
        )
        model = _from_pretrained(transformers.AutoModel, spec, "model")
        config = model.config
        self.model_type = str(getattr(config, "model_type", ""))
        if getattr(config, "is_encoder_decoder", False):
            model = model.get_encoder()
        self.model = model.float().eval()
        self.sampling_rate = int(self.feature_extractor.sampling_rate)
        self.output_dim = int(config.hidden_size)
        self.input_name = self.feature_extractor.model_input_names[0]
        if hasattr(config, "conv_kernel") and hasattr(config, "conv_stride"):
            self.family = "conv"
            self.receptive_field, self.stride = _conv_geometry(config)
            self.chunk_step = max(1, int(chunk_seconds * self.sampling_rate) // self.stride) * self.stride
            self.hop_size_in_ms = 1000.0 * self.stride / self.sampling_rate
        elif self.model_type == "whisper":
            self.family = "whisper"
            self.mel_hop = int(self.feature_extractor.hop_length)
            self.chunk_step = int(self.feature_extractor.n_samples)  # 30 s: what the encoder accepts
            self.hop_size_in_ms = 1000.0 * 2 * self.mel_hop / self.sampling_rate  # stride-2 conv
        else:
            raise EncoderError(
                f"hf:{name}: model type {self.model_type!r} is not supported by hf: (supported: "
                "wav2vec2-style models with a convolutional feature encoder, e.g. wav2vec2/HuBERT/"
                "data2vec-audio/WavLM, and Whisper). Write an encoder file for it; "
                "example/whisper/whisper_encoder.py shows the shape."
            )
        num_layers = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "encoder_layers", 0))
        if layer == ALL_LAYERS:
            self.num_layers = num_layers + 1  # hidden_states: the first layer's input, then every output
        elif layer is not None and not -(num_layers + 1) <= layer <= num_layers:
            raise EncoderError(
                f"hf:{name}: layer={layer} is out of range; this model has hidden states 0..{num_layers} "
                "(0 = input of the first transformer layer)."
            )
        self.layer = layer
        config_file = self._preprocessor_config(transformers, spec)  # the normalisation settings
        self.fingerprint_files = [f for f in (Path(__file__), config_file) if f is not None]

    @staticmethod
    def _preprocessor_config(transformers: Any, spec: HFSpec) -> Path | None:
        local = Path(spec.name) / "preprocessor_config.json"
        if local.is_file():
            return local
        try:
            found = transformers.utils.cached_file(
                spec.name, "preprocessor_config.json", local_files_only=True, revision=spec.revision
            )
        except (OSError, ValueError):
            return None
        return Path(found) if found else None

    def _frames(self, num_samples: int) -> int:
        if self.family == "conv":
            if num_samples < self.receptive_field:
                return 1
            return (num_samples - self.receptive_field) // self.stride + 1
        return max(1, math.ceil((num_samples // self.mel_hop) / 2))

    def _run(self, audio: torch.Tensor) -> torch.Tensor:
        rows = [row.detach().cpu().float().numpy() for row in audio]
        extra = {"padding": "max_length"} if self.family == "whisper" else {}
        features = self.feature_extractor(
            rows, sampling_rate=self.sampling_rate, return_tensors="pt", **extra
        )
        device = next(self.model.parameters()).device
        inputs = features[self.input_name].to(device=device, dtype=torch.float32)
        output = self.model(inputs, output_hidden_states=self.layer is not None)
        if self.layer == ALL_LAYERS:
            return torch.stack(output.hidden_states, dim=1).float()  # [B, L, T', D]
        hidden = output.last_hidden_state if self.layer is None else output.hidden_states[self.layer]
        return hidden.float()

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        total = self._frames(audio.shape[-1])
        context = self.receptive_field - self.stride if self.family == "conv" else 0
        outputs, produced, start = [], 0, 0
        while produced < total:
            piece = audio[:, start : start + self.chunk_step + context]
            length = piece.shape[-1]
            minimum = self.receptive_field if self.family == "conv" else 2 * self.mel_hop
            if length < minimum:
                piece = torch.nn.functional.pad(piece, (0, minimum - length))
            frames = self._run(piece)[..., : self._frames(length), :]  # T' is dim -2, layers or not
            outputs.append(frames)
            produced += frames.shape[-2]
            start += self.chunk_step
        return torch.cat(outputs, dim=-2)[..., :total, :]


def load_hf_encoder(text: str) -> torch.nn.Module:
    """Build the encoder of 'NAME[@layer=K|all,revision=REV]', as a class named after the model."""
    spec = parse_hf_spec(text)
    cls = encoder_class(HuggingFaceEncoder, spec.label)
    return cls(spec.name, layer=spec.layer, revision=spec.revision)
