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
    """All retrieval metrics from a text x clip similarity matrix [N_texts, N_clips]."""
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


def retrieval_metrics(
    audio_emb: np.ndarray, text_emb: np.ndarray, text_to_clip: np.ndarray
) -> dict[str, float]:
    """Recall@1/5/10 and mAP@10 both ways, plus the headline `recallatk_r1`, all as fractions.

    audio_emb is [N_clips, E] (one row per unique clip), text_emb [N_texts, E], and text_to_clip[i]
    is the row of audio_emb that text i describes. Keys: `audio_to_text_recall@{1,5,10}`,
    `audio_to_text_mAP@10`, the same with `text_to_audio_`, and `recallatk_r1`.
    """
    return retrieval_metrics_from_similarity(similarities(audio_emb, text_emb), text_to_clip)


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
    `retrieval_metrics` for the full set.
    """
    return retrieval_metrics_from_similarity(similarity, text_to_clip)["recallatk_r1"]
