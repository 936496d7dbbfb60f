"""Metrics of generated text, the scores of the LLM track (XARES-LLM): both sides are normalised as
published first (NFKC, lower case, hyphens to spaces, punctuation removed, whitespace collapsed).

text_accuracy: the generated text equals the answer (XARES-LLM's `Accuracy`). text_mAP: the generated
text split at ";" as a 0/1 prediction per class, macro AP over the classes of the references
(`mAP`; classes without a positive are left out, as X-ARES's mAP leaves them out). iWER / iCER:
max(0, 1 - corpus WER / CER) of transcripts. Each record reuses a kind that already exists (accuracy,
ap, wer_inv), so intervals and paired tests need nothing new.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence

import numpy as np

from xares.metrics.base import Arrays, Metric
from xares.metrics.classification import ACCURACY, AP, mean_average_precision
from xares.metrics.wer import WER_INV, word_error_rate


def normalise_text(text: str) -> str:
    """The published normalisation of generated and reference texts."""
    text = unicodedata.normalize("NFKC", text).lower().replace("-", " ")
    text = text.translate(str.maketrans("", "", string.punctuation))
    return re.sub(r"\s+", " ", text).strip()


def _pairs(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[list[str], list[str]]:
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise TypeError("generated-text metrics take lists of texts, one per clip; got a bare string")
    if len(hypotheses) != len(references) or not references:
        raise ValueError(
            f"generated-text metrics pair each generated text with one reference; got {len(hypotheses)} "
            f"and {len(references)}"
        )
    return [normalise_text(h) for h in hypotheses], [normalise_text(r) for r in references]


# ----- accuracy of class texts ------------------------------------------------------------------------
def text_accuracy_record(hypotheses: Sequence[str], references: Sequence[str]) -> Arrays:
    """Each clip's answer as the index of its normalised text among the references' texts (-1: a text
    no reference has), and the reference's index."""
    hyps, refs = _pairs(hypotheses, references)
    vocabulary = {text: index for index, text in enumerate(sorted(set(refs)))}
    dtype = np.int16 if len(vocabulary) < 32_000 else np.int32
    return {
        "predictions": np.asarray([vocabulary.get(h, -1) for h in hyps], dtype),
        "targets": np.asarray([vocabulary[r] for r in refs], dtype),
    }


def text_accuracy(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    hyps, refs = _pairs(hypotheses, references)
    return float(np.mean([h == r for h, r in zip(hyps, refs, strict=True)]))


# ----- multi-label mAP of ";"-separated class texts --------------------------------------------------
def _labels(text: str, separator: str) -> list[str]:
    return [part.strip() for part in text.split(separator) if part.strip()]


def text_map_record(hypotheses: Sequence[str], references: Sequence[str], separator: str = ";") -> Arrays:
    """0/1 predictions and targets per class (the classes the references name), per clip.

    The separator is split before normalisation (which removes ";"), as published splits the labels.
    """
    if len(hypotheses) != len(references) or not references:
        raise ValueError(
            f"text_mAP pairs each generated text with one reference; got {len(hypotheses)}, {len(references)}"
        )
    refs = [[normalise_text(x) for x in _labels(r, separator)] for r in references]
    hyps = [[normalise_text(x) for x in _labels(h, separator)] for h in hypotheses]
    classes = {name: index for index, name in enumerate(sorted({x for r in refs for x in r}))}
    outputs = np.zeros((len(refs), len(classes)), np.float16)
    targets = np.zeros((len(refs), len(classes)), np.uint8)
    for row, (hyp, ref) in enumerate(zip(hyps, refs, strict=True)):
        targets[row, [classes[x] for x in ref]] = 1
        outputs[row, [classes[x] for x in hyp if x in classes]] = 1
    return {"outputs": outputs, "targets": targets}


def text_map(hypotheses: Sequence[str], references: Sequence[str], separator: str = ";") -> float:
    arrays = text_map_record(hypotheses, references, separator)
    return mean_average_precision(arrays["outputs"].astype(np.float32), arrays["targets"])


# ----- transcripts -----------------------------------------------------------------------------------
def iwer_record(hypotheses: Sequence[str], references: Sequence[str]) -> Arrays:
    """Word edits and reference words per clip after the published normalisation (corpus WER)."""
    hyps, refs = _pairs(hypotheses, references)
    words = np.asarray([len(r.split()) for r in refs], np.float32)
    errors = [
        len(h.split()) if n == 0 else round(word_error_rate([h], [r]) * n)
        for h, r, n in zip(hyps, refs, words, strict=True)
    ]
    return {"errors": np.asarray(errors, np.float32), "words": words}


def iwer(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    hyps, refs = _pairs(hypotheses, references)
    return max(0.0, 1.0 - word_error_rate(hyps, refs))


def _spaced(text: str) -> str:
    """Characters as words, so the corpus WER of spaced texts is the CER (spaces count as characters)."""
    return " ".join("\u2581" if c == " " else c for c in text)


def icer_record(hypotheses: Sequence[str], references: Sequence[str]) -> Arrays:
    """Character edits and reference characters per clip (the pooled ratio is the corpus CER)."""
    hyps, refs = _pairs(hypotheses, references)
    return iwer_record([_spaced(h) for h in hyps], [_spaced(r) for r in refs])


def icer(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    hyps, refs = _pairs(hypotheses, references)
    return max(0.0, 1.0 - word_error_rate([_spaced(h) for h in hyps], [_spaced(r) for r in refs]))


METRICS = (
    Metric("text_accuracy", text_accuracy, kind=ACCURACY, record=text_accuracy_record),
    Metric("text_mAP", text_map, kind=AP, record=text_map_record),
    Metric("iWER", iwer, kind=WER_INV, record=iwer_record),
    Metric("iCER", icer, kind=WER_INV, record=icer_record),
)
KINDS = ()  # every record above uses an existing kind
