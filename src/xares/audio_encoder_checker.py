"""check_audio_encoder: does an encoder keep the contract a real run relies on?

It runs the same calls the encode stage makes (float32 CPU batches at the declared rate), so passing
it means a run will not fail on the contract. Beyond the public rules it measures the frame rate
against the declared hop (a wrong hop silently ruins frame-level scores), and checks finiteness,
dtype, determinism, 1-D input, batches of one, and the padding promise of `frame_count`. An encoder
that declares `num_layers = L` must return [B, L, T', D] (every rule then applies to that shape; the
frame rate is measured on the T' axis); one that does not must return [B, T', D].
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from xares.encoder import REQUIRED_ATTRIBUTES, declared_layers

logger = logging.getLogger(__name__)

HOP_TOLERANCE = 0.1  # relative; frame-rate rounding at clip edges stays well inside this


@dataclass(frozen=True)
class CheckFailure:
    rule: str
    expected: str
    found: str
    fix: str

    def __str__(self) -> str:
        return f"{self.rule}: expected {self.expected}, found {self.found}. Fix: {self.fix}"


def _forward(encoder: torch.nn.Module, audio: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return encoder(audio)


def _raised(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def find_contract_violations(encoder: object) -> list[CheckFailure]:
    """Every broken rule, in order; the list stops early when later rules cannot be evaluated."""
    failures: list[CheckFailure] = []
    name = type(encoder).__name__
    if not name.endswith("Encoder"):
        failures.append(
            CheckFailure(
                "class name", "a name ending in 'Encoder'", repr(name), f"rename the class to {name}Encoder"
            )
        )
    if not isinstance(encoder, torch.nn.Module):
        failures.append(
            CheckFailure(
                "module type", "a torch.nn.Module", type(encoder).__name__, "subclass torch.nn.Module"
            )
        )
        return failures
    missing = [a for a in REQUIRED_ATTRIBUTES if not hasattr(encoder, a)]
    failures += [
        CheckFailure(f"attribute {a}", "an attribute", "none", f"set self.{a} in __init__") for a in missing
    ]
    if missing:
        return failures
    rate, dim, hop = encoder.sampling_rate, encoder.output_dim, encoder.hop_size_in_ms
    for attr, value in (("sampling_rate", rate), ("output_dim", dim), ("hop_size_in_ms", hop)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            failures.append(
                CheckFailure(attr, "a positive number", repr(value), f"set self.{attr} to a positive number")
            )
    layers = declared_layers(encoder)
    if layers is not None and (not isinstance(layers, int) or isinstance(layers, bool) or layers < 1):
        failures.append(
            CheckFailure(
                "num_layers",
                "a positive integer (the L of an output [B, L, T', D])",
                repr(layers),
                "set self.num_layers = L, or remove it for a [B, T', D] output",
            )
        )
    if failures:
        return failures

    encoder.eval()
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(2, 50000, generator=generator) * 0.1
    try:
        output = _forward(encoder, batch)
    except Exception as exc:  # the user's code: any exception is a contract failure
        return [
            CheckFailure("forward", "forward(audio[2, 50000]) to run", _raised(exc), "accept float [B, T]")
        ]
    failures += _check_output(output, batch_size=2, dim=dim, what="forward(audio[2, 50000])", layers=layers)
    if failures:
        return failures

    failures.extend(_check_hop(encoder, rate=float(rate), hop_ms=float(hop)))
    failures.extend(_check_single_inputs(encoder, dim=dim, rate=float(rate), layers=layers))
    again = _forward(encoder, batch)
    if again.shape != output.shape or not torch.allclose(again, output, rtol=1e-4, atol=1e-5):
        failures.append(
            CheckFailure(
                "determinism",
                "the same output for the same input twice",
                "different outputs",
                "call encoder.eval(), disable dropout and random augmentation at inference",
            )
        )
    if callable(getattr(encoder, "frame_count", None)):
        failures.extend(_check_padding_promise(encoder, rate=float(rate)))
    return failures


def _check_output(
    output: object, *, batch_size: int, dim: int, what: str, layers: int | None = None
) -> list[CheckFailure]:
    if not isinstance(output, torch.Tensor):
        return [
            CheckFailure("output type", "a torch.Tensor", type(output).__name__, "return a tensor [B, T', D]")
        ]
    if layers is None and output.dim() == 4:
        return [
            CheckFailure(
                "output rank",
                f"{what} -> [B, T', D]",
                f"shape {tuple(output.shape)}, a multi-layer output [B, L, T', D] without num_layers",
                f"declare self.num_layers = {output.shape[1]} in __init__ (or return one layer)",
            )
        ]
    if layers is None and output.dim() != 3:
        return [
            CheckFailure(
                "output rank", f"{what} -> [B, T', D]", f"shape {tuple(output.shape)}", "return [B, T', D]"
            )
        ]
    if layers is not None and (output.dim() != 4 or output.shape[1] != layers):
        return [
            CheckFailure(
                "output rank",
                f"{what} -> [B, L, T', D] with L = num_layers = {layers}",
                f"shape {tuple(output.shape)}",
                f"return [B, {layers}, T', D] (stack the layers on dim 1), or remove num_layers if it "
                "means something else and return [B, T', D]",
            )
        ]
    failures = []
    if output.shape[0] != batch_size:
        failures.append(
            CheckFailure(
                "batch size", f"first dimension {batch_size}", f"{output.shape[0]}", "keep the batch first"
            )
        )
    if output.shape[-1] != dim:
        failures.append(
            CheckFailure(
                "output_dim", f"last dimension = output_dim = {dim}", f"{output.shape[-1]}", "fix output_dim"
            )
        )
    if output.shape[-2] < 1:
        failures.append(CheckFailure("frames", "at least one frame", "0 frames", "emit >= 1 frame per clip"))
    if output.dtype != torch.float32:
        failures.append(
            CheckFailure(
                "dtype", "torch.float32", str(output.dtype), "return output.float() (cast after autocast)"
            )
        )
    if not torch.isfinite(output).all():
        failures.append(
            CheckFailure(
                "finite", "finite values", "NaN or Inf in the output", "guard log/divide against zero"
            )
        )
    return failures


MIN_MEASURED_FRAMES = 20  # one frame of rounding is then at most 5 % of the measured hop
MIN_SPAN_S, MAX_SPAN_S = 3.0, 120.0  # the extra audio between the two lengths, in seconds
COARSEST_GUESS_MS = 1000.0 * MAX_SPAN_S / MIN_MEASURED_FRAMES  # the hop whose lengths are longest


def hop_lengths(rate: float, hop_ms: float) -> tuple[int, int]:
    """The two input lengths (samples) the hop is measured between, chosen for this hop.

    The frame counts of any framing rule (window, centring, end padding) are within one frame of
    length / hop, so the difference between two lengths has at most one frame of rounding. The span
    between them holds at least MIN_MEASURED_FRAMES hops (3 s at 10 ms, 23 s at 1161 ms; at most
    120 s, so 24 hops of 5 s), and the shorter one holds four hops, so a long window still yields
    real frames there.
    """
    hop_s = hop_ms / 1000.0
    short_s = max(2.0, 4.0 * hop_s)
    span_s = min(MAX_SPAN_S, max(MIN_SPAN_S, MIN_MEASURED_FRAMES * hop_s))
    return int(round(short_s * rate)), int(round((short_s + span_s) * rate))


@dataclass(frozen=True)
class HopMeasurement:
    """Frame counts for two input lengths, and the hop they imply."""

    rate: float
    short_len: int
    long_len: int
    short_frames: int
    long_frames: int

    @property
    def extra_frames(self) -> int:
        return self.long_frames - self.short_frames

    @property
    def span_ms(self) -> float:
        return 1000.0 * (self.long_len - self.short_len) / self.rate

    @property
    def measured_ms(self) -> float:
        return self.span_ms / self.extra_frames

    def consistent_with(self, hop_ms: float) -> bool:
        """Within one frame of rounding of the declared hop, or within HOP_TOLERANCE of it."""
        expected = self.span_ms / hop_ms
        return abs(self.extra_frames - expected) <= max(1.0, HOP_TOLERANCE * expected)

    def describe(self) -> str:
        return (
            f"{self.short_frames} frames for {self.short_len / self.rate:.2f} s, "
            f"{self.long_frames} for {self.long_len / self.rate:.2f} s at {self.rate:g} Hz"
        )


def _measure(encoder: torch.nn.Module, rate: float, lengths: tuple[int, int]) -> HopMeasurement:
    generator = torch.Generator().manual_seed(1)
    short = _forward(encoder, torch.randn(1, lengths[0], generator=generator) * 0.1)
    long = _forward(encoder, torch.randn(1, lengths[1], generator=generator) * 0.1)
    if short.dim() not in (3, 4) or long.dim() != short.dim():
        raise ValueError(f"outputs of rank {short.dim()} and {long.dim()}")
    # the T' axis of [B, T', D] and [B, L, T', D]
    return HopMeasurement(rate, lengths[0], lengths[1], int(short.shape[-2]), int(long.shape[-2]))


def _check_hop(encoder: torch.nn.Module, *, rate: float, hop_ms: float) -> list[CheckFailure]:
    """Compare the declared hop with the frame rate measured between two input lengths.

    The lengths follow the declared hop (hop_lengths); when the frames disagree with it, the hop is
    measured again on lengths chosen for the measured hop, so the suggested fix is as exact as a
    measurement made for a right declaration. When the longer input gave no extra frame, the longest
    lengths are tried before the output is called fixed-length (a hop of seconds declared as 10 ms).
    """
    guess = hop_ms
    measurement = None
    for _ in range(2):
        lengths = hop_lengths(rate, guess)
        if measurement is not None and lengths[1] <= measurement.long_len:
            break
        try:
            measurement = _measure(encoder, rate, lengths)
        except Exception as exc:
            seconds = f"{lengths[0] / rate:g} s and {lengths[1] / rate:g} s"
            return [CheckFailure("lengths", f"{seconds} inputs to run", _raised(exc), "accept any T")]
        logger.info(
            "hop check of %s: declared %g ms; %s; measured %s",
            type(encoder).__name__,
            hop_ms,
            measurement.describe(),
            f"{measurement.measured_ms:.2f} ms" if measurement.extra_frames > 0 else "no extra frames",
        )
        if measurement.extra_frames <= 0:  # fixed-length output, or a hop far coarser than declared
            guess = max(guess, COARSEST_GUESS_MS)
            continue
        if measurement.consistent_with(hop_ms):
            return []
        guess = measurement.measured_ms
    assert measurement is not None
    if measurement.extra_frames <= 0:
        return [
            CheckFailure(
                "frame rate",
                "more frames for a longer input",
                measurement.describe(),
                "do not pad every input to a fixed length, or trim the frames back to the real audio",
            )
        ]
    return [
        CheckFailure(
            "hop_size_in_ms",
            f"{hop_ms:g} ms between frames (declared)",
            f"{measurement.measured_ms:.2f} ms ({measurement.describe()})",
            f"set hop_size_in_ms = {round(measurement.measured_ms, 2):g}",
        )
    ]


def _check_single_inputs(
    encoder: torch.nn.Module, *, dim: int, rate: float, layers: int | None = None
) -> list[CheckFailure]:
    audio = torch.randn(int(rate), generator=torch.Generator().manual_seed(2)) * 0.1
    try:
        one = _forward(encoder, audio.unsqueeze(0))
        failures = _check_output(one, batch_size=1, dim=dim, what="forward(audio[1, T])", layers=layers)
    except Exception as exc:
        return [CheckFailure("batch of one", "audio[1, T] to work", _raised(exc), "-")]
    try:
        flat = _forward(encoder, audio)
    except Exception as exc:
        return failures + [
            CheckFailure("1-D input", "audio[T] to work", _raised(exc), "unsqueeze(0) when audio.dim() == 1")
        ]
    if isinstance(flat, torch.Tensor) and flat.dim() == one.dim() - 1:
        flat = flat.unsqueeze(0)
    if not isinstance(flat, torch.Tensor) or flat.shape != one.shape:
        found = tuple(flat.shape) if isinstance(flat, torch.Tensor) else type(flat).__name__
        failures.append(
            CheckFailure(
                "1-D input", f"the shape of a batch of one, {tuple(one.shape)}", str(found), "unsqueeze(0)"
            )
        )
    return failures


def _check_padding_promise(encoder: torch.nn.Module, *, rate: float) -> list[CheckFailure]:
    """`frame_count` promises that zero-padding at the end leaves the clip's own frames unchanged."""
    length = int(1.3 * rate)
    clip = torch.randn(length, generator=torch.Generator().manual_seed(3)) * 0.1
    padded = torch.nn.functional.pad(clip, (0, int(0.9 * rate)))
    alone = _forward(encoder, clip.unsqueeze(0))[0]  # [T', D], or [L, T', D]
    inside = _forward(encoder, torch.stack([padded, padded]))[0]
    count = int(encoder.frame_count(length))
    if count != alone.shape[-2]:
        return [
            CheckFailure(
                "frame_count",
                f"frame_count({length}) = frames produced = {alone.shape[-2]}",
                f"{count}",
                "make frame_count match forward, or remove frame_count",
            )
        ]
    if inside.shape[-2] < count or not torch.allclose(inside[..., :count, :], alone, rtol=1e-3, atol=1e-4):
        return [
            CheckFailure(
                "padding",
                "zero-padding a clip leaves its first frame_count(len) frames unchanged",
                "different frames",
                "remove frame_count (the pipeline then batches only equal lengths)",
            )
        ]
    return []


def check_audio_encoder(encoder: object) -> bool:
    """True if the encoder keeps the X-ARES contract; each broken rule is logged with its fix."""
    failures = find_contract_violations(encoder)
    for failure in failures:
        logger.error("%s check failed: %s", type(encoder).__name__, failure)
    if not failures:
        logger.info("%s passed check_audio_encoder", type(encoder).__name__)
    return not failures
