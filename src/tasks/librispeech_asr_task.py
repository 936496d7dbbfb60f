"""LibriSpeech-100h: speech recognition, scored by max(0, 1 - WER) on test-clean.

A frozen Qwen/Qwen2.5-0.5B decoder reads the encoder's frames through a trained adapter. The label
processor returns the transcript (JSON field `trans`, upper-case LibriSpeech text); the metric
lower-cases both sides. Same Zenodo record as LibriSpeech-MF, extracted into its own directory.
"""

from xares.labels import field_of, label_error
from xares.task import TaskConfig


def librispeech_transcript(meta: dict) -> str:
    text = field_of(meta, "trans")
    if not isinstance(text, str) or not text.strip():
        raise label_error(
            f"trans={text!r} is not a non-empty transcript.", field="trans", value=text, valid=None
        )
    return text


def librispeech_asr_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="librispeech",
        formal_name="LibriSpeech-100h",
        domain="speech",
        private=False,
        disabled=False,
        zenodo_id="14716252",
        encoder=encoder,
        train_split="train-clean-100",
        valid_split="dev-clean",
        test_split="test-clean",
        audio_tar_name_of_split={
            "train-clean-100": "train-clean-100*.tar",
            "dev-clean": "dev-clean*.tar",
            "test-clean": "test-clean*.tar",
        },
        mini_audio_tar_name_of_split={"train-clean-100": "train-clean-100-000000.tar"},
        label_processor=librispeech_transcript,
        task_type="asr",
        output_dim=None,
        metric="WER_inv",
        metric_args={},
        # Nominal: the ASR probe trains on the decoder's own shifted causal-LM cross-entropy.
        criterion="CrossEntropyLoss",
        eval_weight=10000,
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=4,
        batch_size_valid=4,
        batch_size_encode=16,
        crop_length=None,  # whole utterances
        do_knn=False,
        # Upstream's identifier: Qwen/Qwen2.5-0.5B (weights and tokenizer).
        pretrained_dependencies=["qwen2"],
    )
