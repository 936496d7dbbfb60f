"""Audio-text retrieval metrics: recall@k and mAP@10 in both directions, and the X-ARES headline.

The published score `recallatk_r1` is the mean of audio-to-text and text-to-audio recall@1, as a
fraction (0..1). Similarity is the cosine of L2-normalised embeddings.

Directions:

- audio -> text: each clip queries all texts. A clip has several relevant texts (its own captions);
  its rank is the best rank among them, so recall@k is the fraction of clips with at least one of
  their captions in the top k.
- text -> audio: each text queries the unique clips; exactly one clip is relevant (its own), so
  recall@k is the fraction of texts whose clip is in the top k.

Ties are broken *against* the query: among equal similarities every non-relevant item is ranked
before the relevant ones. Upstream ranks with an arg-sort, whose tie order is an accident of the
implementation; with optimistic or arbitrary ties a degenerate encoder that maps every clip to the
same vector could score perfect recall, while pessimistic ties give it zero. Embeddings with
distinct similarities (every real encoder) rank exactly as upstream's.

mAP@10: for one query with R relevant items, ranked as above,

    AP@10 = (1 / min(R, 10)) * sum_{i=1..10} rel(i) * P(i),   P(i) = (number relevant in top i) / i,

and mAP@10 is the mean over queries. For text -> audio (R = 1) it is 1/rank when rank <= 10, else 0,
as in DCASE's language-based retrieval task; for audio -> text (R = number of the clip's captions,
5 in Clotho) every caption counts, so a clip with all its captions on top scores 1.
"""

from __future__ import annotations

import numpy as np

from xares.metrics.base import MEAN_RATIO, Arrays, Metric, ratio_record

RECALL_KS: tuple[int, ...] = (1, 5, 10)
MAP_K = 10


def _check(texts: np.ndarray, text_to_clip: np.ndarray, num_clips: int) -> np.ndarray:
    """Validate the text -> clip index: one entry per text, each clip in range and each clip used.

    A clip without a caption can never be retrieved from text and has nothing to retrieve itself,
    which is a bug upstream of the metric (a lost caption), so it is an error rather than a zero.
    """
    mapping = np.asarray(text_to_clip)
    if mapping.ndim != 1 or len(mapping) != len(texts):
        raise ValueError(
            f"text_to_clip must hold one clip index per text: got shape {mapping.shape} for "
            f"{len(texts)} texts."
        )
    if not np.issubdtype(mapping.dtype, np.integer):
        raise ValueError(f"text_to_clip must hold integer clip indices, got dtype {mapping.dtype}.")
    if len(mapping) == 0 or num_clips == 0:
        raise ValueError("retrieval metrics need at least one clip and one text.")
    if mapping.min() < 0 or mapping.max() >= num_clips:
        raise ValueError(
            f"text_to_clip holds clip indices {mapping.min()}..{mapping.max()}, outside 0..{num_clips - 1}."
        )
    counts = np.bincount(mapping, minlength=num_clips)
    if (counts == 0).any():
        missing = np.flatnonzero(counts == 0)[:5].tolist()
        raise ValueError(f"clips {missing} have no text; every clip needs at least one caption.")
    return mapping.astype(np.int64)


def _normalise(embeddings: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(embeddings, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array [items, dim], got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contains NaN or Inf values.")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.maximum(norms, 1e-12)  # a zero vector stays zero: similarity 0 to everything


def _ranked_relevance(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """Relevance of each row's items in ranked order (best first), ties broken against the query."""
    # lexsort's last key is the primary one: descending score, then non-relevant (0) before relevant.
    order = np.lexsort((relevant.astype(np.int8), -scores), axis=-1)
    return np.take_along_axis(relevant, order, axis=-1)


def _average_precision_at_k(ranked: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """AP@MAP_K of every query (row) from its ranked relevance and its relevance row."""
    top = ranked[:, :MAP_K].astype(np.float64)
    found = np.cumsum(top, axis=1)
    precision = found / np.arange(1, top.shape[1] + 1)
    denominator = np.minimum(relevant.sum(axis=1), MAP_K)
    return (precision * top).sum(axis=1) / denominator


def _direction(scores: np.ndarray, relevant: np.ndarray, prefix: str) -> dict[str, float]:
    ranked = _ranked_relevance(scores, relevant)
    average_precision = _average_precision_at_k(ranked, relevant)
    result = {f"{prefix}_recall@{k}": float(np.mean(ranked[:, :k].any(axis=1))) for k in RECALL_KS}
    result[f"{prefix}_mAP@{MAP_K}"] = float(np.mean(average_precision))
    return result


def retrieval_metrics_from_similarity(similarity: np.ndarray, text_to_clip: np.ndarray) -> dict[str, float]:
    """Recall@1/5/10 and mAP@10 both ways, plus the headline `recallatk_r1`, all as fractions, from a
    text x clip similarity matrix [N_texts, N_clips] (text_to_clip[i]: the clip text i describes)."""
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.ndim != 2:
        raise ValueError(f"similarity must be [N_texts, N_clips], got shape {similarity.shape}.")
    if np.isnan(similarity).any():
        raise ValueError("similarity contains NaN values.")
    mapping = _check(similarity, text_to_clip, similarity.shape[1])
    relevant = mapping[:, None] == np.arange(similarity.shape[1])[None, :]  # [N_texts, N_clips]
    result = _direction(similarity.T, relevant.T, "audio_to_text")
    result.update(_direction(similarity, relevant, "text_to_audio"))
    result["recallatk_r1"] = (result["audio_to_text_recall@1"] + result["text_to_audio_recall@1"]) / 2.0
    return result


def similarities(audio_emb: np.ndarray, text_emb: np.ndarray) -> np.ndarray:
    """Cosine similarities [N_texts, N_clips] of text embeddings [N_texts, E] with audio [N_clips, E]."""
    audio = _normalise(audio_emb, "audio_emb")
    text = _normalise(text_emb, "text_emb")
    if audio.shape[1] != text.shape[1]:
        raise ValueError(
            f"audio_emb and text_emb must share one embedding size, got {audio.shape[1]} and {text.shape[1]}."
        )
    return text @ audio.T


def recallatk_r1(similarity: np.ndarray, text_to_clip: np.ndarray) -> float:
    """The registered metric: outputs are the text x clip similarities, targets each text's clip index.

    This keeps the registry's (outputs, targets) -> float shape; the retrieval probe calls
    `retrieval_metrics_from_similarity` for the full set.
    """
    return retrieval_metrics_from_similarity(similarity, text_to_clip)["recallatk_r1"]


# ----- per-clip form ----------------------------------------------------------------------------------
def retrieval_scores(similarity: np.ndarray, text_to_clip: np.ndarray) -> dict[str, tuple[str, Arrays]]:
    """Every retrieval metric's per-clip record, from the text x clip similarities [N_texts, N_clips].

    Per clip: whether its audio-to-text query hit at k and its AP@10, and how many of its texts'
    text-to-audio queries hit at k and the sum of their AP@10. A clip's captions stay with it, so a
    bootstrap draw of the clip draws all of its text queries too (text-to-audio scores are pooled
    ratios: hits of the drawn clips' texts over the number of those texts). The headline
    ("mlp_score", recallatk_r1) is the mean of the two recall@1 ratios.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    mapping = np.asarray(text_to_clip, dtype=np.int64)
    num_clips = similarity.shape[1]
    relevant = mapping[:, None] == np.arange(num_clips)[None, :]
    texts_per_clip = np.bincount(mapping, minlength=num_clips).astype(np.float32)
    a2t = _ranked_relevance(similarity.T, relevant.T)
    t2a = _ranked_relevance(similarity, relevant)
    ones = np.ones(num_clips, np.float32)
    scores: dict[str, tuple[str, Arrays]] = {}
    for k in RECALL_KS:
        audio_hit = a2t[:, :k].any(axis=1).astype(np.float32)
        hit = t2a[:, :k].any(axis=1).astype(np.float64)
        text_hits = np.bincount(mapping, weights=hit, minlength=num_clips).astype(np.float32)
        scores[f"audio_to_text_recall@{k}"] = ratio_record(audio_hit, ones)
        scores[f"text_to_audio_recall@{k}"] = ratio_record(text_hits, texts_per_clip)
        if k == 1:
            scores["mlp_score"] = (
                MEAN_RATIO.name,
                {
                    "numerator": np.stack([audio_hit, text_hits], -1),
                    "denominator": np.stack([ones, texts_per_clip], -1),
                },
            )
    audio_ap = _average_precision_at_k(a2t, relevant.T).astype(np.float32)
    text_ap = np.bincount(mapping, weights=_average_precision_at_k(t2a, relevant), minlength=num_clips)
    scores[f"audio_to_text_mAP@{MAP_K}"] = ratio_record(audio_ap, ones)
    scores[f"text_to_audio_mAP@{MAP_K}"] = ratio_record(text_ap.astype(np.float32), texts_per_clip)
    return scores


def recallatk_r1_record(similarity: np.ndarray, text_to_clip: np.ndarray) -> Arrays:
    """The headline's per-clip record: both directions' recall@1 hits over their query counts."""
    return retrieval_scores(similarity, text_to_clip)["mlp_score"][1]


METRICS = (Metric("recallatk_r1", recallatk_r1, kind=MEAN_RATIO, record=recallatk_r1_record),)
