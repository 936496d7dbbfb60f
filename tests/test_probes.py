import numpy as np
import pytest

from xares.metrics import get_metric
from xares.probes.knn import knn_class_scores
from xares.probes.linear import LinearHead, LinearProbeSettings, train_linear_probe
from xares.probes.training import FusedAdam, epoch_learning_rate


def blobs(seed, n_per_class=40, classes=4, dim=16, spread=1.0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim)) * 3
    x = np.concatenate(
        [centres[c] + spread * rng.standard_normal((n_per_class, dim)) for c in range(classes)]
    )
    y = np.repeat(np.arange(classes), n_per_class)
    return x.astype(np.float32), y


def test_cosine_schedule_matches_the_protocol():
    assert epoch_learning_rate(1e-3, 0, 10) == pytest.approx(1e-3)
    assert epoch_learning_rate(1e-3, 5, 10) == pytest.approx(0.55e-3)
    assert epoch_learning_rate(1e-3, 9, 10) > 0.1e-3
    assert epoch_learning_rate(1e-3, 3, 1) == 1e-3


def _adam_trajectory(make_optimiser, steps=25):
    import torch

    torch.manual_seed(3)
    head = LinearHead(16, 4)
    optimiser = make_optimiser(list(head.parameters()))
    x, y = (torch.as_tensor(a) for a in blobs(2))
    for step in range(steps):
        optimiser.param_groups[0]["lr"] = epoch_learning_rate(1e-2, step, steps)
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(head(x[step::5]), y[step::5]).backward()
        optimiser.step()
    return [p.detach().clone() for p in head.parameters()]


def test_fused_adam_updates_exactly_as_torch_adam():
    import torch

    ours = _adam_trajectory(lambda params: FusedAdam(params, lr=1e-2))
    reference = _adam_trajectory(lambda params: torch.optim.Adam(params, lr=1e-2, fused=True))
    assert all(torch.equal(a, b) for a, b in zip(ours, reference, strict=True))


def test_fused_adam_falls_back_to_torch_adam_without_the_fused_kernel(monkeypatch):
    import torch

    reference = _adam_trajectory(lambda params: torch.optim.Adam(params, lr=1e-2))
    monkeypatch.delattr(torch, "_fused_adam_")
    fallback = _adam_trajectory(lambda params: FusedAdam(params, lr=1e-2))
    assert all(torch.equal(a, b) for a, b in zip(fallback, reference, strict=True))


def test_linear_probe_learns_and_is_deterministic():
    settings = LinearProbeSettings(
        epochs=10, learning_rate=1e-2, batch_size=16, criterion="CrossEntropyLoss", seed=7
    )
    train, valid, test = blobs(0), blobs(0), blobs(0)
    kwargs = dict(output_dim=4, metric=get_metric("accuracy"), settings=settings)
    first = train_linear_probe(train, valid, test, **kwargs)
    second = train_linear_probe(train, valid, test, **kwargs)
    assert first.score > 0.9
    assert first.score == second.score and np.array_equal(first.test_outputs, second.test_outputs)


def test_linear_probe_on_random_labels_is_at_chance():
    x, _ = blobs(1, n_per_class=100)
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, len(x))
    settings = LinearProbeSettings(
        epochs=5, learning_rate=1e-3, batch_size=32, criterion="CrossEntropyLoss", seed=0
    )
    outcome = train_linear_probe(
        (x[:300], y[:300]),
        None,
        (x[300:], y[300:]),
        output_dim=4,
        metric=get_metric("accuracy"),
        settings=settings,
    )
    assert outcome.score < 0.45


def test_multilabel_and_regression_heads_train():
    x, y = blobs(2)
    multi_hot = np.eye(4, dtype=np.float32)[y]
    settings = LinearProbeSettings(
        epochs=10, learning_rate=1e-2, batch_size=16, criterion="BCEWithLogitsLoss", seed=0
    )
    outcome = train_linear_probe(
        (x, multi_hot),
        (x, multi_hot),
        (x, multi_hot),
        output_dim=4,
        metric=get_metric("mAP"),
        settings=settings,
    )
    assert outcome.score > 0.9
    target = x[:, :1].sum(axis=1) * 0.5
    reg = LinearProbeSettings(epochs=30, learning_rate=1e-2, batch_size=16, criterion="MSELoss", seed=0)
    outcome = train_linear_probe(
        (x, target), (x, target), (x, target), output_dim=1, metric=get_metric("MSE"), settings=reg
    )
    assert outcome.score < np.var(target)


def test_knn_on_separable_clusters():
    train_x, train_y = blobs(3)
    votes = knn_class_scores(train_x, train_y, train_x[::7], num_classes=4, k=10, temperature=0.07)
    assert votes.shape == (len(train_x[::7]), 4)
    assert np.mean(votes.argmax(1) == train_y[::7]) > 0.95
    np.testing.assert_allclose(votes.sum(1), 1.0, rtol=1e-5)


def test_knn_is_per_clip_cosine():
    # scaling a training clip must not change anything: cosine similarity normalises each clip
    train_x, train_y = blobs(4)
    query = train_x[:5] + 0.1
    scaled = train_x * np.linspace(0.1, 10, len(train_x))[:, None].astype(np.float32)
    a = knn_class_scores(train_x, train_y, query, num_classes=4)
    b = knn_class_scores(scaled, train_y, query, num_classes=4)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_metrics():
    logits = np.array([[2.0, 0.1], [0.2, 0.9], [0.3, 0.1]])
    assert get_metric("accuracy").compute(logits, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    targets = np.array([[1, 0], [0, 1], [1, 0]])
    assert get_metric("mAP").compute(logits, targets) == pytest.approx(1.0)
    assert get_metric("EER").compute(logits, np.array([0, 1, 0])) == pytest.approx(0.0)
    assert get_metric("MSE").compute(np.array([[1.0], [3.0]]), np.array([2.0, 2.0])) == 1.0
    assert not get_metric("MSE").better(2.0, 1.0) and get_metric("accuracy").better(0.6, 0.5)
    assert not get_metric("accuracy").better(0.5, 0.5)
    with pytest.raises(KeyError, match="Did you mean 'mAP'"):
        get_metric("map")


def test_knn_beside_the_heads_training_scores_as_the_knn_alone(tmp_path):
    from xares.probes import ProbeContext
    from xares.probes.clip import run_clip_probe
    from xares.store import SplitWriter, load_split
    from xares.taskconfig import TaskConfig

    splits = {}
    for index, split in enumerate(("train", "valid", "test")):
        x, y = blobs(10 + index, n_per_class=15, spread=2.5)
        writer = SplitWriter(tmp_path / split, {"split": split}, dim=x.shape[1])
        for i, (vector, label) in enumerate(zip(x, y, strict=True)):
            record = {
                "key": f"{split}{i}",
                "shard": "s.tar",
                "crop": 0,
                "num_samples": 1,
                "meta": {"label": int(label)},
            }
            writer.add(np.stack([vector, vector]), record)
        writer.commit()
        splits[split] = load_split(tmp_path / split, {"split": split})
    config = TaskConfig(name="blobs", output_dim=4, epochs=3, label_processor=lambda meta: meta["label"])
    both = run_clip_probe(
        config, splits, ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=16000)
    )  # kNN in a thread beside the MLP
    config.do_mlp = False
    alone = run_clip_probe(config, splits, ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=16000))
    assert both.mlp_score is not None and alone.mlp_score is None
    assert both.knn_score == alone.knn_score
    labels = np.array([r["meta"]["label"] for r in splits["train"].samples])
    direct = knn_class_scores(splits["train"].pooled, labels, splits["test"].pooled, num_classes=4)
    test_labels = np.array([r["meta"]["label"] for r in splits["test"].samples])
    assert both.knn_score == float(np.mean(np.argmax(direct, axis=1) == test_labels))
    votes = [f["per_clip"].scores["knn_score"] for f in (both.folds[0], alone.folds[0])]
    assert votes[0][0] == votes[1][0] and all(
        np.array_equal(votes[0][1][k], votes[1][1][k]) for k in votes[0][1]
    )
