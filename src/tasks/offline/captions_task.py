"""Offline audio-text retrieval: synthetic scenes with 5 generated captions each (Clotho-shaped).

Scored like Clotho (mean of audio->text and text->audio recall@1), with the word-level tokenizer
fitted on the training captions, and a model 128 wide instead of upstream's 1024 (as accurate here,
and about ten times cheaper), so the whole task runs in well under a minute on two CPU cores.
"""

from xares.data.offline.captions import NUM_CAPTIONS, generate
from xares.errors import LabelError
from xares.task import TaskConfig


def clip_captions(meta: dict) -> list[str]:
    """The clip's five captions, in order."""
    try:
        return [meta[f"caption_{i}"] for i in range(1, NUM_CAPTIONS + 1)]
    except KeyError as exc:
        raise LabelError(f"expected keys caption_1..caption_{NUM_CAPTIONS}, missing {exc}") from exc


def captions_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="offline_captions",
        formal_name="Offline Captions (retrieval)",
        domain="environment",
        encoder=encoder,
        generator=generate,
        task_type="contrastive",
        label_processor=clip_captions,
        output_dim=128,
        metric="recallatk_r1",
        metric_args={"hidden_dim": 128, "tokenizer": "words"},
        criterion="AudioTextContrastiveLoss",
        epochs=20,
        learning_rate=3e-3,
        batch_size_train=128,
        do_knn=False,
        description="2-4 s scenes of 1-2 synthetic sources at 16 kHz FLAC; 300/60/80 clips, 5 captions each.",
    )
