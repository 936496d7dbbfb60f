"""Layer-wise probing: multi-layer encoders ([B, L, T', D]), their stores, and probes of one chosen layer
or of a learned weighted sum of layers, without encoding again."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from layered_encoder import INFORMATIVE, NUM_LAYERS, LayeredEncoder
from toy_data import make_task_file

from xares.audio_encoder_checker import find_contract_violations
from xares.encode import validate_output
from xares.encoder import describe_encoder, encoder_fingerprint
from xares.errors import EncoderError, TaskConfigError
from xares.probes.asr import CtcSettings, Utterances, stack_frames, train_ctc_probe
from xares.probes.frame import FrameClips, FrameProbeSettings, train_frame_probe
from xares.probes.layers import LayerMix, parse_layer, select_layers
from xares.probes.retrieval import RetrievalSettings, RetrievalSplit, WordTokenizer, train_retrieval_model
from xares.report import load_results
from xares.store import SplitEmbeddings, SplitWriter, load_split
from xares.task import RunOptions, TaskConfig, XaresTask, load_task_config

ROOT = Path(__file__).resolve().parents[1]
LAYERED = str(Path(__file__).parent / "layered_encoder.py")
MEL = str(ROOT / "example/mel/mel_encoder.py")


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _task(tmp_path, encoder, *, name="toy", generator="toy_data.write_toy_shards", **fields):
    path = make_task_file(tmp_path, name, extra=f"env_root={str(tmp_path / 'env')!r},", generator=generator)
    config = load_task_config(path, encoder)
    for key, value in fields.items():
        setattr(config, key, value)
    return config


def _run(config, layer=None, **options):
    return XaresTask(config, options=RunOptions(layer=layer, **options)).run()


# ----- the contract ----------------------------------------------------------------------------------
def test_the_layered_encoder_passes_the_checker_and_declares_its_layers():
    encoder = LayeredEncoder()
    assert find_contract_violations(encoder) == []
    info = describe_encoder(encoder)
    assert info.num_layers == NUM_LAYERS and info.pads_safely
    assert encoder(torch.zeros(2, 16000)).shape == (2, NUM_LAYERS, 101, 12)


class _FourDimensional(torch.nn.Module):
    """Returns [B, 3, T', 4]; `layers` is what it declares as num_layers (None: nothing)."""

    def __init__(self, layers=None, returned=3):
        super().__init__()
        self.sampling_rate, self.hop_size_in_ms, self.output_dim = 16000, 10, 4
        self.returned = returned
        if layers is not None:
            self.num_layers = layers

    def forward(self, audio):
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        frames = audio.shape[-1] // 160 + 1
        base = torch.nn.functional.pad(audio, (0, frames * 160 - audio.shape[-1])).reshape(-1, frames, 160)
        stats = torch.stack([base.mean(-1), base.std(-1), base.abs().amax(-1), base.abs().mean(-1)], -1)
        if self.returned is None:
            return stats
        return torch.stack([stats * (k + 1) for k in range(self.returned)], dim=1)


_FourDimensional.__name__ = "FourDimensionalEncoder"


@pytest.mark.parametrize(
    ("layers", "returned", "expected"),
    [
        (None, 3, "declare self.num_layers = 3"),  # 4-D without a declaration
        (5, 3, "return [B, 5, T', D]"),  # a different L
        (3, None, "return [B, 3, T', D]"),  # declared, but 3-D (e.g. num_layers meaning the model depth)
        ("all", 3, "positive integer"),
    ],
)
def test_the_checker_names_each_broken_layer_rule(layers, returned, expected):
    failures = find_contract_violations(_FourDimensional(layers, returned))
    assert failures and any(expected in failure.fix or expected in failure.expected for failure in failures)


def test_a_declared_four_dimensional_encoder_passes_and_the_hop_is_measured_on_the_frame_axis():
    encoder = _FourDimensional(3, 3)
    assert find_contract_violations(encoder) == []
    encoder.hop_size_in_ms = 20  # wrong: the frames are 10 ms apart (T' is dim 2, not the layer dim 1)
    (failure,) = find_contract_violations(encoder)
    assert failure.rule == "hop_size_in_ms" and "10" in failure.found


def test_the_encode_stage_refuses_a_shape_that_breaks_the_declaration():
    with pytest.raises(EncoderError, match="num_layers = 3"):
        validate_output(torch.zeros(2, 4, 7, 12), batch_size=2, dim=12, num_layers=3)
    with pytest.raises(EncoderError, match="declares num_layers"):
        validate_output(torch.zeros(2, 4, 7, 12), batch_size=2, dim=12)


def test_num_layers_enters_the_fingerprint_only_when_declared():
    plain = _FourDimensional(None, None)
    before = encoder_fingerprint(plain)
    plain.num_layers = 3
    assert encoder_fingerprint(plain) != before


# ----- the store ---------------------------------------------------------------------------------------
def test_the_store_keeps_every_layer_and_one_layer_is_a_view(tmp_path):
    encoder = LayeredEncoder()
    config = _task(tmp_path, encoder)
    task = XaresTask(config)
    task.run(to_stage=1)
    data = load_split(task.split_dir("test"), task.store_key("test"))
    assert data.manifest["num_layers"] == NUM_LAYERS and data.num_layers == NUM_LAYERS
    assert data.frames.ndim == 3 and data.frames.shape[1:] == (NUM_LAYERS, 12)
    assert data.pooled.shape == (len(data), NUM_LAYERS, 12)
    one = data.layer(INFORMATIVE)
    assert one.frames.shape == (data.frames.shape[0], 12) and not one.has_layer_axis
    assert np.shares_memory(one.frames, data.frames)  # no copy of the frames
    np.testing.assert_array_equal(one.clip_frames(3), data.clip_frames(3)[:, INFORMATIVE])
    np.testing.assert_allclose(
        one.pooled[3], np.asarray(data.clip_frames(3)[:, INFORMATIVE], np.float32).mean(0), atol=2e-3
    )
    np.testing.assert_array_equal(data.layer(-1).pooled, data.pooled[:, NUM_LAYERS - 1])


def test_a_single_layer_store_reads_as_one_layer(tmp_path):
    """Stores written before layers existed have no num_layers in their manifest: L = 1, 2-D arrays."""
    writer = SplitWriter(tmp_path / "split", {"k": 1}, dim=3)
    writer.add(np.ones((4, 3), np.float32), {"key": "a", "shard": "s", "meta": {}})
    writer.commit()
    data = load_split(tmp_path / "split", {"k": 1})
    assert "num_layers" not in data.manifest and data.num_layers == 1 and not data.has_layer_axis
    assert data.layer(0) is data and data.layer(-1) is data
    with pytest.raises(IndexError):
        data.layer(1)


def test_layer_choices_parse_and_validate():
    assert parse_layer("3") == 3 and parse_layer("-1") == -1 and parse_layer("Weighted") == "weighted"
    with pytest.raises(ValueError, match="integer K"):
        parse_layer("last")
    with pytest.raises(TaskConfigError, match="layer must be"):
        TaskConfig(name="x", layer="middle")
    with pytest.raises(TaskConfigError, match="layer must be"):
        TaskConfig(name="x", layer=True)


# ----- probes: switching layers, weighted -----------------------------------------------------------------
def test_switching_layers_trains_new_heads_from_the_same_store(tmp_path):
    encoder = LayeredEncoder()
    config = _task(tmp_path, encoder)
    default = _run(config)
    calls = encoder.calls
    assert calls > 0 and default.layer is None and default.num_layers == NUM_LAYERS
    stores = sorted(p.name for p in (tmp_path / "env/toy/embeddings").iterdir())

    informative = _run(_task(tmp_path, encoder), layer=INFORMATIVE)
    noise = _run(_task(tmp_path, encoder), layer=2)
    last = _run(_task(tmp_path, encoder), layer=-1)
    assert encoder.calls == calls  # nothing was encoded again
    assert sorted(p.name for p in (tmp_path / "env/toy/embeddings").iterdir()) == stores
    assert not informative.cached and not noise.cached
    assert informative.knn_score > 0.9 and noise.knn_score < 0.6
    assert informative.mlp_score > noise.mlp_score
    # the default is the last layer: same heads, same scores; its own score cache entry
    assert (last.mlp_score, last.knn_score) == (default.mlp_score, default.knn_score)
    scores = list((tmp_path / "env/toy/scores").rglob("*.json"))
    assert len(scores) == 4
    again = _run(_task(tmp_path, encoder), layer=INFORMATIVE)
    assert again.cached and again.mlp_score == informative.mlp_score and encoder.calls == calls


def test_weighted_learns_the_informative_layer(tmp_path):
    encoder = LayeredEncoder()
    generator = "__import__('layered_encoder').write_layer_shards"
    single = {}
    for layer in range(NUM_LAYERS):
        config = _task(tmp_path, encoder, name="layers", generator=generator, epochs=20)
        single[layer] = _run(config, layer=layer, num_seeds=2).mlp_score
    weighted = _run(
        _task(tmp_path, encoder, name="layers", generator=generator, epochs=20), layer="weighted", num_seeds=2
    )
    weights = weighted.layer_weights
    assert (
        weighted.layer == "weighted"
        and len(weights) == NUM_LAYERS
        and sum(weights) == pytest.approx(1, abs=1e-3)
    )
    assert int(np.argmax(weights)) == INFORMATIVE and weights[INFORMATIVE] > 0.5
    assert max(single, key=single.get) == INFORMATIVE
    assert weighted.mlp_score >= single[INFORMATIVE] - 0.05  # as good as the best layer, within noise
    assert all(fold["layer_weights"] for fold in weighted.folds)  # every seed's head learned a mix
    # kNN learns nothing: under "weighted" it uses the last layer
    last = _run(_task(tmp_path, encoder, name="layers", generator=generator, epochs=20))
    assert weighted.knn_score == last.knn_score


def test_a_single_layer_encoder_is_unchanged_and_refuses_other_layers(tmp_path):
    from xares.encoder import load_encoder

    mel = load_encoder(MEL)
    config = _task(tmp_path, mel)
    task = XaresTask(config)
    result = task.run()
    assert result.layer is None and result.num_layers == 1 and result.layer_weights is None
    identity_default = task.score_path()
    assert _run(_task(tmp_path, mel), layer=0).mlp_score == result.mlp_score  # layer 0 is the only one
    assert XaresTask(_task(tmp_path, mel), options=RunOptions(layer=0)).score_path() != identity_default
    failed = {}
    for layer in (1, "weighted"):
        with pytest.raises(TaskConfigError) as error:
            _run(_task(tmp_path, mel), layer=layer)
        failed[layer] = str(error.value)
    assert "out of range" in failed[1] and "single layer" in failed["weighted"]


def test_a_mix_of_layers_starts_uniform_and_normalises_each_layer():
    mix = LayerMix(3, learning_rate=1e-3)
    layers = torch.randn(5, 3, 8) * torch.tensor([1.0, 10.0, 100.0])[None, :, None]
    out = mix(layers)
    normalised = torch.nn.functional.layer_norm(layers, (8,))
    torch.testing.assert_close(out, normalised.mean(1))
    assert mix.weights().tolist() == pytest.approx([1 / 3] * 3)


def _two_layer_frames(rng, num_clips, frames, classes):
    """Frame clips [T, 2, 2C]: layer 1 is the targets and their complement plus noise, layer 0 noise."""
    clips, targets = [], []
    for _ in range(num_clips):
        target = (rng.random((frames, classes)) < 0.3).astype(np.uint8)
        informative = np.concatenate([target, 1 - target], axis=1) + 0.3 * rng.standard_normal(
            (frames, 2 * classes)
        )
        noise = rng.standard_normal((frames, 2 * classes))
        clips.append(np.stack([noise, informative], axis=1).astype(np.float32))
        targets.append(target)
    return FrameClips(frames=clips, targets=targets)


def test_the_frame_probe_learns_a_mix_of_layers():
    rng = np.random.default_rng(0)
    train, test = _two_layer_frames(rng, 24, 50, 3), _two_layer_frames(rng, 8, 50, 3)

    def accuracy(outputs, targets):
        return float(np.mean((np.concatenate(outputs) > 0) == np.concatenate(targets)))

    outcome = train_frame_probe(
        train,
        None,
        test,
        output_dim=3,
        evaluate=accuracy,
        better=lambda a, b: b is None or a > b,
        settings=FrameProbeSettings(epochs=10, learning_rate=1e-2, batch_size=4, seed=0),
    )
    assert outcome.layer_weights[1] > 0.8 and outcome.score > 0.9


def test_the_retrieval_probe_learns_a_mix_of_layers():
    rng = np.random.default_rng(1)
    words = ["dog", "cat", "bird", "car", "rain", "bell", "drum", "wind"]

    def split(count):
        ids = rng.integers(0, len(words), count)
        informative = np.eye(len(words))[ids] + 0.1 * rng.standard_normal((count, len(words)))
        audio = np.stack([rng.standard_normal((count, len(words))), informative], axis=1).astype(np.float32)
        return RetrievalSplit(
            audio=audio, captions=[f"a {words[i]} sound" for i in ids], text_to_clip=np.arange(count)
        )

    train, test = split(80), split(20)
    outcome = train_retrieval_model(
        train,
        None,
        test,
        tokenizer=WordTokenizer.fit(train.captions),
        settings=RetrievalSettings(epochs=8, learning_rate=3e-3, batch_size=16, seed=0, hidden=32, out=16),
    )
    assert outcome.layer_weights is not None and outcome.layer_weights[1] > 0.6


def test_ctc_frames_with_a_layer_axis_stack_each_layer_on_its_own_and_train():
    frames = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
    stacked = stack_frames(frames, 2)
    assert stacked.shape == (3, 2, 6)
    for layer in range(2):
        np.testing.assert_array_equal(stacked[:, layer], stack_frames(frames[:, layer], 2))

    rng = np.random.default_rng(2)
    offsets = np.arange(0, 13 * 40, 40)
    data = SplitEmbeddings(
        frames=rng.standard_normal((12 * 40, 3, 8)).astype(np.float32),
        offsets=offsets,
        pooled=np.zeros((12, 3, 8), np.float32),
        samples=[{"key": str(i), "shard": "s", "meta": {}} for i in range(12)],
        manifest={},
    )
    texts = ["ab ba", "ba ab", "abab"] * 4
    utterances = Utterances.of([data], [texts])
    outcome = train_ctc_probe(
        utterances,
        None,
        utterances,
        CtcSettings(epochs=1, learning_rate=1e-3, batch_size=4, seed=0, hidden=8, frame_stack=2),
    )
    assert len(outcome.details["layer_weights"]) == 3 and len(outcome.hypotheses) == 12


def test_select_layers_hands_the_probes_2d_splits_or_the_layer_axis(tmp_path):
    encoder = LayeredEncoder()
    task = XaresTask(_task(tmp_path, encoder))
    task.run(to_stage=1)
    splits = {s: load_split(task.split_dir(s), task.store_key(s)) for s in ("train", "test")}
    assert select_layers(splits, "weighted", task="toy") is splits
    chosen = select_layers(splits, 1, task="toy")
    assert all(not d.has_layer_axis for d in chosen.values())
    with pytest.raises(TaskConfigError, match="0..3 or -4..-1"):
        select_layers(splits, 4, task="toy")


# ----- the command line, end to end -------------------------------------------------------------------------
def _cli(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "xares.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_layers_through_the_command_line(tmp_path):
    task = str(make_task_file(tmp_path))
    first = _cli(["run", LAYERED, task, "--layer", str(INFORMATIVE), "-q"], tmp_path)
    assert first.returncode == 0, first.stderr + first.stdout
    (store,) = [p for p in (tmp_path / "env/toy/embeddings").iterdir() if p.is_dir()]
    manifests = {p: p.stat().st_mtime_ns for p in store.glob("*/manifest.json")}
    assert len(manifests) == 3 and "Layer" in first.stdout and f"{INFORMATIVE} of 4" in first.stdout

    second = _cli(["run", LAYERED, task, "--layer", "weighted", "-q"], tmp_path)
    assert second.returncode == 0, second.stderr + second.stdout
    assert {p: p.stat().st_mtime_ns for p in store.glob("*/manifest.json")} == manifests  # not re-encoded
    one = load_results(tmp_path / f"results/LayeredEncoder/results-layer-{INFORMATIVE}.json")
    mixed = load_results(tmp_path / "results/LayeredEncoder/results-layer-weighted.json")
    assert one["run"]["layer"] == INFORMATIVE and mixed["run"]["layer"] == "weighted"
    assert one["encoder"]["num_layers"] == NUM_LAYERS
    (toy_one,), (toy_mixed,) = one["tasks"], mixed["tasks"]
    assert toy_one["layer"] == INFORMATIVE and toy_one["num_layers"] == NUM_LAYERS
    assert toy_mixed["layer"] == "weighted" and len(toy_mixed["layer_weights"]) == NUM_LAYERS
    assert toy_one["knn_score"] > 0.9 and toy_mixed["mlp_score"] is not None

    bad = _cli(["run", LAYERED, task, "--layer", "middle"], tmp_path)
    assert bad.returncode == 2 and "integer K" in bad.stderr

    files = [str(tmp_path / f"results/LayeredEncoder/results-layer-{k}.json") for k in (1, "weighted")]
    report = _cli(["report", *files, "--format", "markdown"], tmp_path)
    assert report.returncode == 0, report.stderr
    assert "LayeredEncoder @layer=1" in report.stdout and "LayeredEncoder @layer=weighted" in report.stdout

    check = _cli(["check", LAYERED], tmp_path)
    assert check.returncode == 0 and "4 layers" in " ".join(check.stdout.split())
