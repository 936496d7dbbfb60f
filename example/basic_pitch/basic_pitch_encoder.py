"""Spotify's basic-pitch (ICASSP 2022) as an encoder: real pretrained weights with no download.

The ONNX model ships inside the `basic-pitch` wheel (basic_pitch/saved_models/icassp_2022/nmp.onnx)
and runs with onnxruntime: `pip install onnxruntime` and `pip install --no-deps basic-pitch` (its
declared dependencies pull TensorFlow, which is not needed to run the ONNX file).

The model maps 2 s windows (43844 samples at 22.05 kHz) to 172 frames of note (88), onset (88) and
pitch-contour (264) posteriors; the frames are its outputs concatenated, 440-d, one every 256 samples
(11.6 ms), frame t centred at sample 256 t. As in basic-pitch's own inference, windows overlap by
30 frames and the 15 frames at each edge are dropped; here the window step is a whole number of
frames (142 x 256 samples), so the frames of consecutive windows line up exactly. A clip of N
samples gives N // 256 + 1 frames.

The model file is not a torch parameter: `fingerprint_files` lists it, so new weights get a new
encoder fingerprint. Runs on CPU (onnxruntime's CPU provider) whatever the device.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

WINDOW = 43844  # samples per model call, 2 s - 256
HOP = 256
WINDOW_FRAMES = 172
EDGE = 15  # frames dropped at each side of a window
KEPT = WINDOW_FRAMES - 2 * EDGE  # 142
OUTPUTS = (
    "StatefulPartitionedCall:1",
    "StatefulPartitionedCall:2",
    "StatefulPartitionedCall:0",
)  # note, onset, contour
WINDOWS_PER_CALL = 32


def bundled_model() -> Path:
    """basic_pitch/saved_models/icassp_2022/nmp.onnx, found without importing basic_pitch."""
    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("basic-pitch's model not found: pip install --no-deps basic-pitch")
    return Path(next(iter(spec.submodule_search_locations))) / "saved_models" / "icassp_2022" / "nmp.onnx"


class BasicPitchEncoder(torch.nn.Module):
    def __init__(self, model_file: str | Path | None = None) -> None:
        super().__init__()
        import onnxruntime

        self.model_file = Path(model_file) if model_file else bundled_model()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(self.model_file), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.sampling_rate = 22050
        self.hop_size_in_ms = 1000 * HOP / 22050
        self.output_dim = 88 + 88 + 264
        self.fingerprint_files = [self.model_file]

    def _run(self, windows: np.ndarray) -> np.ndarray:
        """windows [W, 43844] -> frames [W, 172, 440]."""
        outputs = self.session.run(list(OUTPUTS), {self.input_name: windows[:, :, None]})
        return np.concatenate(outputs, axis=-1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        samples = audio.detach().float().cpu().numpy()
        batch, length = samples.shape
        count = length // HOP + 1
        num_windows = -(-count // KEPT)
        step = KEPT * HOP
        # frame t of the clip is frame EDGE + (t mod KEPT) of window t // KEPT
        total = EDGE * HOP + (num_windows - 1) * step + WINDOW
        padded = np.zeros((batch, total), dtype=np.float32)
        padded[:, EDGE * HOP : EDGE * HOP + length] = samples
        starts = np.arange(num_windows) * step
        windows = np.stack([padded[:, s : s + WINDOW] for s in starts], axis=1).reshape(-1, WINDOW)
        frames = np.concatenate(
            [self._run(group) for group in np.array_split(windows, -(-len(windows) // WINDOWS_PER_CALL))]
        )
        kept = frames[:, EDGE : EDGE + KEPT].reshape(batch, num_windows * KEPT, self.output_dim)
        return torch.from_numpy(np.ascontiguousarray(kept[:, :count])).to(audio.device)
