"""Weighted k-nearest-neighbour probe: no training, so it measures the embedding space itself.

Cosine similarity between L2-normalised clip vectors (each clip normalised over its dimensions, the
documented protocol), the k most similar training clips, softmax over similarity / temperature, and
a weighted vote per class.

`reference_normalisation="dimension"` reproduces the public implementation (xares 0.1.3) exactly: it
transposes the training matrix before normalising, so each *feature dimension* is scaled to unit norm
across the training clips instead of each clip across its dimensions (queries are still normalised
per clip). The similarities are then not cosines; the published kNN tables were produced this way.
Use it only to compare with those tables (protocol "xares-0.1.3").
"""

from __future__ import annotations

import numpy as np
import torch


def normalise_rows(vectors: np.ndarray) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(vectors), dtype=torch.float32)
    return torch.nn.functional.normalize(tensor, dim=1)


@torch.no_grad()
def knn_class_scores(
    train_vectors: np.ndarray,
    train_labels: np.ndarray,
    query_vectors: np.ndarray,
    *,
    num_classes: int,
    k: int = 10,
    temperature: float = 0.07,
    chunk: int = 1024,
    reference_normalisation: str = "clip",
) -> np.ndarray:
    """Per-class vote weights [N_query, num_classes]; the arg-max is the prediction."""
    if reference_normalisation == "clip":
        reference = normalise_rows(train_vectors)
    elif reference_normalisation == "dimension":  # xares 0.1.3: normalise(train.T).T
        reference = normalise_rows(np.asarray(train_vectors).T).T
    else:
        raise ValueError(
            f"reference_normalisation must be 'clip' or 'dimension', got {reference_normalisation!r}"
        )
    labels = torch.as_tensor(np.asarray(train_labels), dtype=torch.int64)
    queries = normalise_rows(query_vectors)
    k = min(k, len(reference))
    scores = []
    for start in range(0, len(queries), chunk):
        similarity = queries[start : start + chunk] @ reference.T
        top_sim, top_index = similarity.topk(k, dim=1)
        weights = torch.softmax(top_sim / temperature, dim=1)
        votes = torch.zeros(len(top_sim), num_classes)
        votes.scatter_add_(1, labels[top_index], weights)
        scores.append(votes)
    return torch.cat(scores).numpy()
