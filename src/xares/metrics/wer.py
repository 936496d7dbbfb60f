"""Word error rate of transcripts, and the X-ARES score WER_inv = max(0, 1 - WER).

The WER is a corpus WER, as published: the edits of every pair are summed and divided by the total
number of reference words, so long utterances weigh more than short ones (a mean of per-utterance
WERs would not). Both sides are lower-cased first; then jiwer's default normalisation applies
(whitespace collapsed and stripped, no punctuation removed).

Pairs with an empty side are counted here rather than handed to jiwer, because jiwer versions
disagree about empty strings (some raise, some count): an empty hypothesis is all deletions, which is
what a model that outputs nothing deserves, and an empty reference makes every hypothesis word an
insertion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from xares.metrics.base import Arrays, Kind, Metric, ratio_record, weighted_ratio


def _jiwer() -> Any:
    """Imported on first use, so the rest of xares keeps working where only ASR tasks need jiwer."""
    try:
        import jiwer
    except ImportError as exc:
        raise ImportError(
            "the WER_inv metric needs the 'jiwer' package; install it with `pip install jiwer`."
        ) from exc
    return jiwer


def _words(text: str) -> list[str]:
    # jiwer's default normalisation: collapse runs of whitespace, strip, split on spaces.
    return " ".join(text.split()).split(" ") if text.strip() else []


def _check(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise TypeError(
            "WER takes lists of transcripts, one string per utterance; got a bare string. "
            "Wrap a single utterance in a list: wer_inv([hypothesis], [reference])."
        )
    if len(references) == 0:
        raise ValueError("WER needs at least one reference transcript; the reference list is empty.")
    if len(hypotheses) != len(references):
        raise ValueError(
            f"WER pairs each hypothesis with one reference; got {len(hypotheses)} hypotheses "
            f"and {len(references)} references."
        )
    for name, texts in (("hypotheses", hypotheses), ("references", references)):
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"{name}[{index}] is {type(text).__name__}, not a string: {text!r}.")


def word_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus WER: (substitutions + deletions + insertions) / reference words, case-insensitive.

    It may exceed 1 when the hypotheses insert many words. With no reference words at all the rate
    is undefined, and a ValueError says so instead of returning a misleading 0.
    """
    _check(hypotheses, references)
    hyps = [h.lower() for h in hypotheses]
    refs = [r.lower() for r in references]
    reference_words = sum(len(_words(r)) for r in refs)
    if reference_words == 0:
        raise ValueError(
            f"WER is undefined when every one of the {len(refs)} references is empty; "
            "check that the task's label processor returns the transcripts."
        )
    edits = 0
    both_hyps, both_refs = [], []
    for hyp, ref in zip(hyps, refs, strict=True):
        if not _words(ref):
            edits += len(_words(hyp))  # insertions
        elif not _words(hyp):
            edits += len(_words(ref))  # deletions
        else:
            both_hyps.append(hyp)
            both_refs.append(ref)
    if both_refs:
        out = _jiwer().process_words(both_refs, both_hyps)
        edits += out.substitutions + out.deletions + out.insertions
    return edits / reference_words


def wer_inv(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """The X-ARES ASR score: max(0, 1 - corpus WER), so higher is better and it lies in [0, 1]."""
    return max(0.0, 1.0 - word_error_rate(hypotheses, references))


# ----- per-clip form ----------------------------------------------------------------------------------
def wer_record(hypotheses: Sequence[str], references: Sequence[str]) -> Arrays:
    """Word edits and reference words of every utterance; their pooled ratio is the corpus WER."""
    errors, words = [], []
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        count = len(_words(reference.lower()))
        words.append(count)
        errors.append(
            len(_words(hypothesis))
            if count == 0
            else round(word_error_rate([hypothesis], [reference]) * count)
        )
    return {"errors": np.asarray(errors, np.float32), "words": np.asarray(words, np.float32)}


def weighted_wer_inv(arrays: Arrays, weights: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, 1.0 - weighted_ratio(weights, arrays["errors"], arrays["words"]))


WER_INV = Kind("wer_inv", weighted_wer_inv)  # errors [S, N], words [S, N]

METRICS = (Metric("WER_inv", wer_inv, kind=WER_INV, record=wer_record),)
KINDS = (WER_INV,)


def asr_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, tuple[str, Arrays]]:
    """The per-clip scores of an ASR task: the headline WER_inv ("mlp_score") and the WER, as a ratio."""
    arrays = wer_record(hypotheses, references)
    return {
        "mlp_score": (WER_INV.name, arrays),
        "WER": ratio_record(arrays["errors"], arrays["words"]),
    }
