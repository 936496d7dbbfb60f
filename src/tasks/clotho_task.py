"""Clotho: audio-text retrieval, scored by recall@1 averaged over both directions (5 captions a clip).

The sample's JSON is an object of captions. The label processor returns them as a list, in the
object's value order; the contrastive probe makes one (audio, caption) pair per caption and tokenises
the text itself. Clotho names its splits oddly: the test split is `clotho_validation` and the
validation split `clotho_evaluation`.
"""

from xares.labels import label_error
from xares.task import TaskConfig


def clotho_captions(meta: dict) -> list[str]:
    captions = list(meta.values()) if isinstance(meta, dict) else None
    if not captions or not all(isinstance(c, str) and c.strip() for c in captions):
        raise label_error(
            f"expected the sample's JSON to be an object of non-empty caption strings, got {meta!r}.",
            field=None,
            value=meta,
            valid=None,
        )
    return captions


def clotho_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="clotho",
        formal_name="Clotho",
        domain="environment",
        private=False,
        disabled=False,
        zenodo_id="14856454",
        encoder=encoder,
        train_split="clotho_development",
        valid_split="clotho_evaluation",
        test_split="clotho_validation",
        audio_tar_name_of_split={
            "clotho_development": "clotho_development*.tar",
            "clotho_evaluation": "clotho_evaluation*.tar",
            "clotho_validation": "clotho_validation*.tar",
        },
        label_processor=clotho_captions,
        task_type="contrastive",
        output_dim=None,  # unset upstream: the retrieval model's projection size (1024) is used
        metric="recallatk_r1",
        metric_args={},
        criterion="AudioTextContrastiveLoss",
        eval_weight=1045,
        epochs=20,
        learning_rate=1e-3,
        batch_size_train=128,
        batch_size_valid=128,
        batch_size_encode=16,
        crop_length=30,  # clips are 15-30 s: one crop each, shorter ones zero-padded
        save_encoded_per_batches=500,
        do_knn=False,
        # Upstream's identifier: the tokenizer (only) of google-bert/bert-base-uncased.
        pretrained_dependencies=["bert-base-uncased:tokenizer"],
    )
