"""Real recordings: ASR of Allison's US English Asterisk prompts, scored by 1 - WER (CTC head).

Source: Debian packages asterisk-core-sounds-en-wav (audio) and asterisk-core-sounds-en (transcripts),
1.6.1-1, CC-BY-SA-3.0. One professional speaker; prompts disjoint across splits, every test word
heard in some training prompt (closed vocabulary, new sentences); prompts up to 8 s. See
xares.data.real.allison_asr. Chance: an empty transcript scores 0.

About 450 training prompts (20 minutes of speech): in batches of 16 over 15 epochs (420 steps) the
log-mel CTC head never left the all-blank output (test and validation 0.000, best epoch 0); batches
of 8 over 25 epochs (1400 steps) learnt to spell on one machine (test 0.06) and stayed blank on
another (0.000; same code and seed, another CPU); over 50 epochs (2800 steps, 150 s on two
cores) it scores 0.10.
"""

from xares.data.real.allison_asr import generate
from xares.errors import LabelError
from xares.task import TaskConfig


def asr_transcript(meta: dict) -> str:
    transcript = meta.get("trans")
    if not isinstance(transcript, str):
        raise LabelError(f"expected the transcript as a string in JSON field 'trans', got {meta!r}")
    return transcript


def allison_asr_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="real_allison_asr",
        formal_name="Real ASR (Allison prompts)",
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
        epochs=50,
        learning_rate=1e-2,
        batch_size_train=8,
        do_knn=False,
        description="Asterisk prompts by Allison (Debian), 8 kHz WAV, with the package's transcripts.",
    )
