"""Offline ASR: short English sentences spoken by espeak-ng voices, LibriSpeech-shaped, scored by WER_inv.

The probe is the offline CTC decoder (a one-layer BiLSTM over characters, see xares.probes.asr),
chosen here explicitly; its epochs and batch size keep the whole task, generation and log-mel encoding
included, within about a minute on two CPU cores. For the published protocol's frozen Qwen2.5 decoder,
set metric_args={"decoder": "qwen", "llm": "<local path>"} (or run with --asr-decoder qwen).
"""

from xares.data.offline.asr_sentences import generate
from xares.errors import LabelError
from xares.task import TaskConfig


def asr_transcript(meta: dict) -> str:
    transcript = meta.get("trans")
    if not isinstance(transcript, str):
        raise LabelError(f"expected the transcript as a string in JSON field 'trans', got {meta!r}")
    return transcript


def asr_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="offline_asr",
        formal_name="Offline ASR (espeak-ng)",
        domain="speech",
        encoder=encoder,
        generator=generate,
        train_split="train",
        valid_split="valid",
        test_split="test",
        task_type="asr",
        label_processor=asr_transcript,
        metric="WER_inv",
        metric_args={"decoder": "ctc"},  # this suite's own head, not the published LLM decoder
        criterion="CTCLoss",
        epochs=15,
        learning_rate=1e-2,
        batch_size_train=16,
        do_knn=False,
        description="LibriSpeech-shaped: 3-6 word sentences, 16 kHz FLAC, voices disjoint across splits.",
    )
