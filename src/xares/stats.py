"""Statistics of scores: per-clip test records, bootstrap intervals, paired tests, per-class scores.

Every score X-ARES reports is a function of the test clips. A probe keeps, for each test clip, what
the score needs (the predicted class, the head's outputs, segment counts ...) in a `ClipRecord`;
`merge_records` pools the folds of a k-fold task and stacks the seeds of `--seeds N`. From the merged
`TestClips` any score can be recomputed under a *weighting* of the clips, and a bootstrap replicate is
just a weighting: clip i drawn c_i times out of N gets weight c_i.

    score(weights) = mean over seeds ( mean over folds ( metric of the fold's clips, weighted ) )

With all weights 1 this is exactly the published score (k-fold: the plain mean of the fold scores).
Intervals are percentile intervals over `resamples` replicates that resample all test clips pooled
(k-fold: every held-out clip of every fold). Weighted averages over tasks are bootstrapped jointly:
each replicate draws every task's clips and averages the task scores of that replicate. A paired
comparison draws the clips the two results share (matched by key) once per replicate and scores both
encoders on the same draw.

A score's per-clip arrays have a seed axis S first, then the clip axis N (an array that is the same
for every seed is kept once, S = 1), under a kind whose weighted statistic is declared with its metric
(xares.metrics.KINDS): this module holds only the records and the resampling.

On disk (score caches and results.json) arrays are stored compactly: raw little-endian bytes,
zlib-compressed, base64 (`encode_array`).
"""

from __future__ import annotations

import base64
import hashlib
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xares.metrics import KINDS, get_metric
from xares.metrics.classification import weighted_average_precision
from xares.metrics.retrieval import retrieval_scores
from xares.metrics.segment import f1_from_counts, frame_scores
from xares.metrics.wer import asr_scores

PER_CLIP_FORMAT = 1
DEFAULT_RESAMPLES = 1000
CONFIDENCE = 0.95
MAX_CONFUSION_CLASSES = 40  # larger confusion matrices are summarised by their top confusions
_BLOCK_ELEMENTS = 4_000_000  # replicates x clips drawn at once, to keep memory flat
CLIP_KINDS = ("accuracy", "ap", "eer", "mse", "mae", "pearson")  # records of clip-level heads


# ----- compact arrays ---------------------------------------------------------------------------------
def encode_array(array: np.ndarray) -> dict[str, Any]:
    """A JSON-ready, compact form of an array: dtype, shape and zlib-compressed base64 bytes."""
    array = np.ascontiguousarray(array)
    dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
    payload = zlib.compress(array.astype(dtype, copy=False).tobytes(), 6)
    return {"dtype": dtype.str, "shape": list(array.shape), "zlib_base64": base64.b64encode(payload).decode()}


def decode_array(data: dict[str, Any]) -> np.ndarray:
    """The inverse of encode_array; a damaged payload raises ValueError naming what is wrong."""
    try:
        raw = zlib.decompress(base64.b64decode(data["zlib_base64"]))
        return np.frombuffer(raw, dtype=np.dtype(data["dtype"])).reshape(data["shape"])
    except (KeyError, TypeError, ValueError, zlib.error) as exc:
        raise ValueError(f"a per-clip array is damaged ({type(exc).__name__}: {exc})") from exc


# ----- what a probe keeps ----------------------------------------------------------------------------
@dataclass(eq=False)
class ClipRecord:
    """Per-clip test data of one trained head (one fold, one seed): clip keys and, per score, its kind
    and arrays with the clip axis first. Two records are equal when their keys, class names, kinds and
    arrays are (so a probe's determinism can be checked on its whole result)."""

    keys: list[str]
    scores: dict[str, tuple[str, dict[str, np.ndarray]]]
    class_names: list[str] | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClipRecord):
            return NotImplemented
        layout = [(n, k, list(a)) for n, (k, a) in self.scores.items()]
        other_layout = [(n, k, list(a)) for n, (k, a) in other.scores.items()]
        if (self.keys, self.class_names, layout) != (other.keys, other.class_names, other_layout):
            return False
        return all(
            np.array_equal(array, other.scores[name][1][key])
            for name, (_, arrays) in self.scores.items()
            for key, array in arrays.items()
        )


def clip_keys(samples: Sequence[dict[str, Any]]) -> list[str]:
    """Stable keys of a split's test items: the sample key, with '#<crop>' for crops after the first."""
    keys = [str(s["key"]) + (f"#{s['crop']}" if s.get("crop") else "") for s in samples]
    seen: dict[str, int] = {}
    unique = []
    for key in keys:  # a key repeated across shards stays distinguishable (and still pairs by order)
        seen[key] = seen.get(key, 0) + 1
        unique.append(key if seen[key] == 1 else f"{key}~{seen[key]}")
    return unique


def head_scores(metric: str, outputs: np.ndarray, targets: np.ndarray) -> tuple[str, dict[str, np.ndarray]]:
    """Per-clip record of a clip-level head for the registered metric `metric` (its `per_clip`)."""
    found = get_metric(metric)
    if found.kind is None or found.kind.name not in CLIP_KINDS:
        raise ValueError(f"no per-clip record for clip metric {metric!r}")
    return found.per_clip(outputs, targets)


def classification_scores(outputs: np.ndarray, targets: np.ndarray) -> tuple[str, dict[str, np.ndarray]]:
    """Per-clip record of a single-label classifier: predicted and true class of every clip."""
    return head_scores("accuracy", outputs, targets)


def frame_record(
    keys: list[str], outputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], **args: Any
) -> ClipRecord:
    """The ClipRecord of a frame task (xares.metrics.segment.frame_scores: metric, hop, segment length)."""
    return ClipRecord(keys=keys, scores=frame_scores(outputs, targets, **args))


def retrieval_record(keys: list[str], similarity: np.ndarray, text_to_clip: np.ndarray) -> ClipRecord:
    """The ClipRecord of a retrieval task (xares.metrics.retrieval.retrieval_scores), keyed by clip."""
    shape, texts = np.shape(similarity), len(text_to_clip)
    if len(shape) != 2 or len(keys) != shape[1] or shape[0] != texts:
        raise ValueError(
            f"a retrieval record needs one key per clip and one clip index per text: got {len(keys)} "
            f"keys and {texts} clip indices for similarities of shape {shape}"
        )
    return ClipRecord(keys=keys, scores=retrieval_scores(similarity, text_to_clip))


def asr_record(keys: list[str], hypotheses: Sequence[str], references: Sequence[str]) -> ClipRecord:
    """The ClipRecord of an ASR task: word edits and reference words per utterance (corpus WER)."""
    return ClipRecord(keys=keys, scores=asr_scores(hypotheses, references))


# ----- pooled folds and stacked seeds ------------------------------------------------------------------
@dataclass
class TestClips:
    """Per-clip data of one task: every held-out clip (all folds pooled) of every seed."""

    keys: list[str]
    fold: np.ndarray  # [N] index into fold_names
    fold_names: list[str]
    seeds: list[int]
    scores: dict[str, tuple[str, dict[str, np.ndarray]]]  # arrays [S or 1, N, ...]
    class_names: list[str] | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PER_CLIP_FORMAT,
            "keys": self.keys,
            "fold_names": self.fold_names,
            "fold": encode_array(self.fold.astype(np.int16)),
            "seeds": self.seeds,
            "class_names": self.class_names,
            "scores": {
                name: {"kind": kind, "arrays": {k: encode_array(v) for k, v in arrays.items()}}
                for name, (kind, arrays) in self.scores.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TestClips:
        if data.get("format") != PER_CLIP_FORMAT:
            raise ValueError(f"per-clip data of format {data.get('format')!r}; this X-ARES reads format 1")
        scores = {}
        for name, entry in data["scores"].items():
            if entry["kind"] not in KINDS:
                raise ValueError(f"per-clip score {name!r} has unknown kind {entry['kind']!r}")
            scores[name] = (entry["kind"], {k: decode_array(v) for k, v in entry["arrays"].items()})
        clips = cls(
            keys=list(data["keys"]),
            fold=decode_array(data["fold"]).astype(np.int64),
            fold_names=list(data["fold_names"]),
            seeds=list(data["seeds"]),
            scores=scores,
            class_names=data.get("class_names"),
        )
        for name, (_, arrays) in scores.items():
            for key, array in arrays.items():
                if array.ndim < 2 or array.shape[1] != len(clips.keys):
                    raise ValueError(
                        f"per-clip array {name}/{key} has shape {array.shape}; expected [seeds, "
                        f"{len(clips.keys)} clips, ...]"
                    )
        return clips

    def subset(self, index: np.ndarray) -> TestClips:
        """Only the clips at `index` (in that order), e.g. the clips two results share."""
        return TestClips(
            keys=[self.keys[i] for i in index],
            fold=self.fold[index],
            fold_names=self.fold_names,
            seeds=self.seeds,
            scores={
                n: (k, {a: v[:, index] for a, v in arrays.items()}) for n, (k, arrays) in self.scores.items()
            },
            class_names=self.class_names,
        )


def _squeeze_seeds(stacked: np.ndarray) -> np.ndarray:
    """Keep one copy of an array that every seed produced identically (labels, kNN predictions)."""
    if len(stacked) > 1 and all(np.array_equal(stacked[0], s) for s in stacked[1:]):
        return stacked[:1]
    return stacked


def merge_records(records: list[list[ClipRecord]], seeds: list[int], fold_names: list[str]) -> TestClips:
    """Pool the folds (records[s][f]: seed s, fold f) and stack the seeds into one TestClips.

    Only scores every record holds are kept; all seeds must hold the same clips in the same order.
    """
    first = records[0]
    keys = [k for record in first for k in record.keys]
    fold = np.concatenate([np.full(len(r.keys), f, np.int64) for f, r in enumerate(first)])
    for seed_records in records[1:]:
        if [k for r in seed_records for k in r.keys] != keys:
            raise ValueError("the seeds of one task scored different test clips; cannot pool them")
    names = [n for n in first[0].scores if all(n in r.scores for rs in records for r in rs)]
    scores = {}
    for name in names:
        kind = first[0].scores[name][0]
        arrays = {}
        for array_name in first[0].scores[name][1]:
            per_seed = [np.concatenate([r.scores[name][1][array_name] for r in rs]) for rs in records]
            arrays[array_name] = _squeeze_seeds(np.stack(per_seed))
        scores[name] = (kind, arrays)
    return TestClips(
        keys=keys,
        fold=fold,
        fold_names=fold_names,
        seeds=seeds,
        scores=scores,
        class_names=next((r.class_names for r in first if r.class_names), None),
    )


# ----- weighted statistics -----------------------------------------------------------------------------
def score_under_weights(clips: TestClips, name: str, weights: np.ndarray) -> np.ndarray:
    """Score `name` under each row of weights [B, N]: per seed the mean over folds, then the mean over
    seeds. Returns [B]; NaN where a replicate left no usable clip."""
    return per_seed_scores(clips, name, weights).mean(axis=1)


def per_seed_scores(clips: TestClips, name: str, weights: np.ndarray) -> np.ndarray:
    """[B, S]: score `name` of every seed under each row of weights."""
    kind, arrays = clips.scores[name]
    statistic = KINDS[kind].weighted
    per_fold = []
    for f in range(len(clips.fold_names)):
        mask = clips.fold == f
        if not mask.any():
            continue
        fold_weights = weights[:, mask]
        values = statistic({k: v[:, mask] for k, v in arrays.items()}, fold_weights)
        values = np.where(fold_weights.sum(1, keepdims=True) > 0, values, np.nan)
        per_fold.append(values)
    with warnings.catch_warnings():  # a replicate that left a fold without clips is NaN there
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(per_fold), axis=0)


def observed(clips: TestClips, name: str) -> tuple[float, list[float]]:
    """(score, score of each seed) with every clip weighted once: the reported numbers."""
    per_seed = per_seed_scores(clips, name, np.ones((1, len(clips)), np.float64))[0]
    return float(np.mean(per_seed)), [float(v) for v in per_seed]


# ----- bootstrap -------------------------------------------------------------------------------------
def stable_seed(*parts: Any) -> int:
    """A seed from text, the same on every machine and Python (hash() is salted per process)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def resample_weights(rng: np.random.Generator, size: int, resamples: int) -> np.ndarray:
    """[resamples, size] draw counts: each row draws `size` clips with replacement."""
    return rng.multinomial(size, np.full(size, 1.0 / size), size=resamples).astype(np.float32)


def bootstrap(
    clips: TestClips,
    names: Sequence[str],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    others: Sequence[TestClips] = (),
) -> dict[str, np.ndarray]:
    """Replicates [resamples] of every score in `names` (and, paired, of the same names in `others`,
    which must hold the same clips in the same order). Keys: name, or f"{i}:{name}" for others[i]."""
    rng = np.random.default_rng(seed)
    block = max(1, min(resamples, _BLOCK_ELEMENTS // max(1, len(clips))))
    out: dict[str, list[np.ndarray]] = {}
    done = 0
    while done < resamples:
        weights = resample_weights(rng, len(clips), min(block, resamples - done))
        for name in names:
            out.setdefault(name, []).append(score_under_weights(clips, name, weights))
            for i, other in enumerate(others):
                out.setdefault(f"{i}:{name}", []).append(score_under_weights(other, name, weights))
        done += len(weights)
    return {name: np.concatenate(parts) for name, parts in out.items()}


def interval(
    replicates: np.ndarray, confidence: float = CONFIDENCE, observed: float | None = None
) -> list[float] | None:
    """Bias-corrected percentile interval of the replicates (Efron's BC; the plain percentile interval
    when `observed` is None or the replicates are centred on it). None when too few are finite.

    Rank metrics such as average precision are biased upwards under resampling (a drawn-twice positive
    ties with itself); the correction moves the percentiles so that the interval is centred the way
    the replicates are centred on the observed score.
    """
    # scipy.stats.norm's ppf and cdf are these two functions (times scale 1, plus loc 0): the same floats,
    # without importing scipy.stats (1-2 s) in every process that writes results
    from scipy.special import ndtr, ndtri

    finite = replicates[np.isfinite(replicates)]
    if len(finite) < max(10, len(replicates) // 2):
        return None
    tail = (1.0 - confidence) / 2.0
    low_q, high_q = tail, 1.0 - tail
    if observed is not None and np.isfinite(observed):
        below = (np.sum(finite < observed) + 0.5 * np.sum(finite == observed)) / len(finite)
        below = min(max(below, 1.0 / (len(finite) + 1)), len(finite) / (len(finite) + 1))
        bias = ndtri(below)
        low_q, high_q = ndtr(2 * bias + ndtri(tail)), ndtr(2 * bias + ndtri(1.0 - tail))
    low, high = np.quantile(finite, [low_q, high_q])
    return [float(low), float(high)]


def paired_p_value(differences: np.ndarray) -> float | None:
    """Two-sided bootstrap p-value of a difference being 0: twice the share of replicates on the far
    side of 0 (at least 1 / replicates)."""
    finite = differences[np.isfinite(differences)]
    if len(finite) == 0:
        return None
    share = min(np.mean(finite <= 0), np.mean(finite >= 0))
    return float(min(1.0, max(2.0 * share, 1.0 / len(finite))))


# ----- per-class scores ---------------------------------------------------------------------------
def infer_class_names(metas: Sequence[Any], targets: np.ndarray, num_classes: int) -> list[str]:
    """Class names read from the clips' JSON: a field whose value (or one ';'/','-separated token of it)
    is shared by every clip of a class and differs between classes. Else "class <index>"."""
    targets = np.asarray(targets)
    multi = targets.ndim == 2
    members = [
        np.flatnonzero(targets[:, c] > 0.5) if multi else np.flatnonzero(targets == c)
        for c in range(num_classes)
    ]
    fields = sorted({k for m in metas[:50] if isinstance(m, dict) for k in m})
    for name in fields:
        found = []
        for index in members:
            if len(index) == 0:
                found.append(None)
                continue
            common: set[str] | None = None
            for i in index[:200]:
                value = metas[i].get(name) if isinstance(metas[i], dict) else None
                if not isinstance(value, (str, int)) or isinstance(value, bool):
                    common = set()
                    break
                tokens = {t.strip() for t in str(value).replace(",", ";").split(";") if t.strip()}
                common = tokens if common is None else common & tokens
            found.append(next(iter(common)) if common and len(common) == 1 else "")
        named = [f for f in found if f is not None]
        if named and all(named) and len(set(named)) == len(named):
            return [f if f is not None else f"class {c}" for c, f in enumerate(found)]
    return [f"class {c}" for c in range(num_classes)]


def per_class_scores(clips: TestClips, name: str) -> dict[str, Any] | None:
    """Per-class scores of score `name` (mean over seeds) and, for classifiers, the confusion matrix of
    the first seed. None for kinds without classes."""
    kind, arrays = clips.scores[name]
    ones = np.ones(len(clips))
    if kind == "accuracy":
        predictions, targets = arrays["predictions"], arrays["targets"]
        num_classes = int(max(predictions.max(), targets.max())) + 1
        if clips.class_names:
            num_classes = max(num_classes, len(clips.class_names))
        confusion = np.zeros((len(predictions), num_classes, num_classes), np.int64)
        for s in range(len(predictions)):
            np.add.at(confusion[s], (targets[min(s, len(targets) - 1)], predictions[s]), 1)
        support = confusion[0].sum(1)
        tp = np.diagonal(confusion, axis1=1, axis2=2).astype(np.float64)
        predicted = confusion.sum(1).astype(np.float64)
        actual = confusion.sum(2).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = np.where(actual > 0, tp / actual, np.nan).mean(0)
            precision = np.where(predicted > 0, tp / predicted, 0.0).mean(0)
            f1 = np.where(actual + predicted > 0, 2 * tp / (actual + predicted), 0.0).mean(0)
        result: dict[str, Any] = {
            "names": _names(clips, num_classes),
            "support": support.tolist(),
            "recall": _floats(recall),
            "precision": _floats(precision),
            "f1": _floats(f1),
            "seed_of_confusion": clips.seeds[0] if clips.seeds else None,
        }
        if num_classes <= MAX_CONFUSION_CLASSES:
            result["confusion"] = confusion[0].tolist()
        else:
            off = confusion[0].copy()
            np.fill_diagonal(off, 0)
            top = np.argsort(off, axis=None)[::-1][:20]
            result["top_confusions"] = [
                {"true": int(t), "predicted": int(p), "count": int(off[t, p])}
                for t, p in zip(*np.unravel_index(top, off.shape), strict=True)
                if off[t, p] > 0
            ]
        return result
    if kind == "ap":
        outputs, targets = arrays["outputs"], arrays["targets"]
        num_classes = outputs.shape[2]
        rows = [(outputs[s], targets[min(s, len(targets) - 1)]) for s in range(len(outputs))]
        per_seed = [
            [weighted_average_precision(out[:, c], tgt[:, c], ones[None])[0] for c in range(num_classes)]
            for out, tgt in rows
        ]
        values = np.stack(per_seed).mean(0)
        return {
            "names": _names(clips, num_classes),
            "support": targets[0].sum(0).astype(int).tolist(),
            "ap": _floats(values),
        }
    if kind in ("f1_macro", "f1_micro"):
        counts = arrays["counts"].sum(1).astype(np.float64)  # [S, C, 3]
        tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
        f1 = f1_from_counts(tp, fp, fn).mean(0)
        return {
            "names": _names(clips, counts.shape[1]),
            "support": (tp + fn)[0].astype(int).tolist(),
            "f1": _floats(f1),
        }
    return None


def _names(clips: TestClips, count: int) -> list[str]:
    names = list(clips.class_names or [])
    return (names + [f"class {c}" for c in range(len(names), count)])[:count]


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 6) for v in values]


@dataclass
class SeedSummary:
    """Mean and spread of one score over seeds."""

    value: float | None
    std: float | None
    per_seed: list[float] = field(default_factory=list)


def summarise_seeds(values: Sequence[float | None]) -> SeedSummary:
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return SeedSummary(None, None, [])
    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else None
    return SeedSummary(float(np.mean(finite)), std, finite)


# ----- paired comparison -------------------------------------------------------------------------------
@dataclass
class PairedTest:
    """Score A minus score B on the test clips both results hold, with its bootstrap interval and the
    two-sided p-value of no difference."""

    score_a: float
    score_b: float
    difference: float
    interval: list[float] | None
    p_value: float | None
    shared_clips: int
    clips_a: int
    clips_b: int


def paired_draws(
    a: TestClips, b: TestClips, name: str, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> tuple[float, float, np.ndarray, np.ndarray, int] | None:
    """(score A, score B, replicates A, replicates B, shared clips): both results scored on the same
    draws of the clips they share (matched by key; each clip's fold is taken from `a`). None when they
    share no clip or do not both hold the score."""
    if name not in a.scores or name not in b.scores or a.scores[name][0] != b.scores[name][0]:
        return None
    position = {key: i for i, key in enumerate(b.keys)}
    index_a = np.asarray([i for i, key in enumerate(a.keys) if key in position], dtype=np.int64)
    if len(index_a) == 0:
        return None
    index_b = np.asarray([position[a.keys[i]] for i in index_a], dtype=np.int64)
    shared_a, shared_b = a.subset(index_a), b.subset(index_b)
    shared_b.fold, shared_b.fold_names = shared_a.fold, shared_a.fold_names
    score_a, score_b = observed(shared_a, name)[0], observed(shared_b, name)[0]
    draws = bootstrap(shared_a, [name], resamples=resamples, seed=seed, others=[shared_b])
    return score_a, score_b, draws[name], draws[f"0:{name}"], len(index_a)


def paired_test(
    a: TestClips, b: TestClips, name: str, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> PairedTest | None:
    """Paired bootstrap test of score `name` of `a` against `b` (see paired_draws)."""
    drawn = paired_draws(a, b, name, resamples=resamples, seed=seed)
    if drawn is None:
        return None
    score_a, score_b, draws_a, draws_b, shared = drawn
    return summarise_pair(score_a, score_b, draws_a - draws_b, shared, len(a), len(b))


def summarise_pair(
    score_a: float, score_b: float, differences: np.ndarray, shared: int, clips_a: int, clips_b: int
) -> PairedTest:
    return PairedTest(
        score_a=score_a,
        score_b=score_b,
        difference=score_a - score_b,
        interval=interval(differences, observed=score_a - score_b),
        p_value=paired_p_value(differences),
        shared_clips=shared,
        clips_a=clips_a,
        clips_b=clips_b,
    )


# ----- several seeds of one task -----------------------------------------------------------------------
def published_selection(config: Any) -> tuple[str, bool]:
    """What chooses the epoch under the published protocol, and whether that sees the test data."""
    if config.is_kfold:
        return "held-out fold (as published)", True
    if config.valid_split is None:
        return "last epoch", False
    if config.valid_split == config.test_split:
        return f"test split {config.test_split!r} (as published)", True
    return f"validation split {config.valid_split!r}", False


def combine_seeds(outcomes: Sequence[Any], seeds: Sequence[int], config: Any) -> dict[str, Any]:
    """The score-cache entry of a task from one ProbeResult per seed: means over seeds, each seed's
    scores, every fold (tagged with its seed), the selection, and the pooled per-clip data."""

    def mean(values: list[float | None]) -> float | None:
        finite = [v for v in values if v is not None]
        return float(np.mean(finite)) if finite else None

    seed_scores = {name: [getattr(o, name) for o in outcomes] for name in ("mlp_score", "knn_score")}
    seed_scores |= {name: [o.metrics.get(name) for o in outcomes] for name in outcomes[0].metrics}
    folds, records = [], []
    for seed, outcome in zip(seeds, outcomes, strict=True):
        records.append([f.get("per_clip") for f in outcome.folds])
        folds += [{**{k: v for k, v in f.items() if k != "per_clip"}, "seed": seed} for f in outcome.folds]
    selections = {(f["selection"], bool(f.get("selection_on_test"))) for f in folds if "selection" in f}
    if selections:
        selection = "; ".join(sorted({s for s, _ in selections}))
        on_test = any(t for _, t in selections)
    else:
        selection, on_test = published_selection(config)
    per_clip = None
    if all(r is not None for rs in records for r in rs) and records and records[0]:
        fold_names = [str(f["name"]) for f in outcomes[0].folds]
        per_clip = merge_records(records, list(seeds), fold_names).to_json()
    return {
        "mlp_score": mean(seed_scores["mlp_score"]),
        "knn_score": mean(seed_scores["knn_score"]),
        "num_test_clips": outcomes[0].num_test_clips,
        "folds": folds,
        "metrics": {name: v for name in outcomes[0].metrics if (v := mean(seed_scores[name])) is not None},
        "seed_scores": seed_scores,
        "selection": selection,
        "selection_on_test": on_test,
        "per_clip": per_clip,
    }
