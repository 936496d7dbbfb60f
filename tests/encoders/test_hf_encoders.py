"""hf: encoders, offline: tiny randomly initialised models saved to tmp_path and loaded as hf:<path>."""

from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from xares.audio_encoder_checker import find_contract_violations  # noqa: E402
from xares.encoder import encoder_fingerprint, load_encoder  # noqa: E402
from xares.encoders.hf import parse_hf_spec  # noqa: E402
from xares.errors import EncoderError  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "example"
TINY_CONV = {
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "conv_dim": (8,) * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}


def _save(tmp_path: Path, model, extractor) -> Path:
    torch.manual_seed(0)
    model.save_pretrained(tmp_path)
    extractor.save_pretrained(tmp_path)
    return tmp_path


def _wav2vec2(tmp_path: Path, *, normalize: bool = True, seed: int = 0, conv_norm: str = "group") -> Path:
    torch.manual_seed(seed)
    config = transformers.Wav2Vec2Config(**TINY_CONV, feat_extract_norm=conv_norm)
    model = transformers.Wav2Vec2Model(config)
    extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=normalize, return_attention_mask=False)
    return _save(tmp_path, model, extractor)


def _hubert(tmp_path: Path) -> Path:
    torch.manual_seed(1)
    model = transformers.HubertModel(transformers.HubertConfig(**TINY_CONV))
    extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=False)
    return _save(tmp_path, model, extractor)


def _data2vec(tmp_path: Path) -> Path:
    torch.manual_seed(2)
    config = transformers.Data2VecAudioConfig(**{**TINY_CONV, "num_conv_pos_embeddings": 4})
    model = transformers.Data2VecAudioModel(config)
    extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    return _save(tmp_path, model, extractor)


def _whisper(tmp_path: Path) -> Path:
    torch.manual_seed(3)
    config = transformers.WhisperConfig(
        vocab_size=64,
        d_model=16,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_target_positions=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    model = transformers.WhisperModel(config)
    return _save(tmp_path, model, transformers.WhisperFeatureExtractor())


BUILDERS = {"wav2vec2": _wav2vec2, "hubert": _hubert, "data2vec": _data2vec, "whisper": _whisper}


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_tiny_models_pass_the_checker(tmp_path, family):
    folder = BUILDERS[family](tmp_path / family)
    encoder = load_encoder(f"hf:{folder}")
    assert type(encoder).__name__.endswith("Encoder")
    assert encoder.sampling_rate == 16000 and encoder.output_dim == 16
    assert encoder.hop_size_in_ms == pytest.approx(20.0)
    assert find_contract_violations(encoder) == []


def test_conv_frames_match_a_single_pass_across_chunks(tmp_path):
    """Chunking with the convolution's context gives the frames (count and timing) of one pass."""
    encoder = load_encoder(f"hf:{_wav2vec2(tmp_path, normalize=False)}")
    encoder.chunk_step = 320 * 25  # 0.5 s chunks, to exercise the chunk boundaries cheaply
    audio = torch.randn(1, 16000 * 2 + 123, generator=torch.Generator().manual_seed(0)) * 0.1
    with torch.inference_mode():
        chunked = encoder(audio)
        features = encoder.model.feature_extractor(audio).transpose(1, 2)  # conv features only
    assert chunked.shape == (1, (audio.shape[-1] - 400) // 320 + 1, 16)
    assert features.shape[1] == chunked.shape[1]


def test_conv_chunk_boundaries_leave_local_features_unchanged(tmp_path):
    """A conv feature encoder with layer norm is local: pieces with 80 samples of context reproduce it.

    (With wav2vec2-base's group norm the first layer normalises over time, so chunks only keep the
    frame timing, as every chunked transformer does.)"""
    encoder = load_encoder(f"hf:{_wav2vec2(tmp_path, normalize=False, conv_norm='layer')}")
    audio = torch.randn(1, 12345, generator=torch.Generator().manual_seed(1))
    step, context = 320 * 10, encoder.receptive_field - encoder.stride
    with torch.inference_mode():
        whole = encoder.model.feature_extractor(audio)
        pieces = [
            encoder.model.feature_extractor(audio[:, s : s + step + context])
            for s in range(0, audio.shape[-1], step)
            if audio[:, s : s + step + context].shape[-1] >= encoder.receptive_field
        ]
    assert torch.allclose(torch.cat(pieces, dim=-1), whole, atol=1e-5)


def test_feature_extractor_normalisation_is_applied(tmp_path):
    """With do_normalize the output ignores the input gain (per-clip zero mean, unit variance)."""
    encoder = load_encoder(f"hf:{_wav2vec2(tmp_path, normalize=True)}")
    audio = torch.randn(1, 16000, generator=torch.Generator().manual_seed(2)) * 0.1
    with torch.inference_mode():
        quiet, loud = encoder(audio), encoder(audio * 20)
    assert torch.allclose(quiet, loud, atol=1e-3)


def test_whisper_keeps_only_frames_of_real_audio_and_chunks_long_input(tmp_path):
    encoder = load_encoder(f"hf:{_whisper(tmp_path)}")
    with torch.inference_mode():
        short = encoder(torch.zeros(2, 16000))
        long = encoder(torch.randn(1, 16000 * 31, generator=torch.Generator().manual_seed(3)) * 0.1)
    assert short.shape == (2, 50, 16)
    assert long.shape == (1, 1550, 16)  # a full 30 s chunk (1500 frames) + 1 s


def test_layer_option_selects_a_hidden_state(tmp_path):
    folder = _wav2vec2(tmp_path)
    last, first = load_encoder(f"hf:{folder}"), load_encoder(f"hf:{folder}@layer=0")
    audio = torch.randn(1, 8000, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        assert not torch.allclose(last(audio), first(audio))
        inputs = first.feature_extractor(audio[0].numpy(), sampling_rate=16000, return_tensors="pt")
        hidden = first.model(inputs.input_values, output_hidden_states=True).hidden_states[0]
        assert torch.allclose(first(audio), hidden, atol=1e-5)
    assert type(first).__name__ != type(last).__name__
    assert encoder_fingerprint(first) != encoder_fingerprint(last)
    with pytest.raises(EncoderError, match="out of range"):
        load_encoder(f"hf:{folder}@layer=7")


def test_spec_parsing():
    assert parse_hf_spec("facebook/wav2vec2-base").layer is None
    spec = parse_hf_spec("facebook/wav2vec2-base@layer=6,revision=abc")
    assert (spec.name, spec.layer, spec.revision) == ("facebook/wav2vec2-base", 6, "abc")
    assert parse_hf_spec("/models/a@b").name == "/models/a@b"  # '@' without options stays in the name
    with pytest.raises(EncoderError, match="unknown option"):
        parse_hf_spec("x@lyer=3")
    with pytest.raises(EncoderError, match="integer"):
        parse_hf_spec("x@layer=last")


def test_new_weights_or_normalisation_give_a_new_fingerprint(tmp_path):
    a = load_encoder(f"hf:{_wav2vec2(tmp_path / 'a', seed=0)}")
    b = load_encoder(f"hf:{_wav2vec2(tmp_path / 'b', seed=1)}")
    c = load_encoder(f"hf:{_wav2vec2(tmp_path / 'c', seed=0, normalize=False)}")
    assert len({encoder_fingerprint(e) for e in (a, b, c)}) == 3


def test_missing_model_offline_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    with pytest.raises(EncoderError, match="hf download"):
        load_encoder("hf:facebook/wav2vec2-base")
    with pytest.raises(EncoderError, match="no feature extractor in that folder"):
        load_encoder(f"hf:{tmp_path}")


def test_unsupported_model_type_is_a_clear_error(tmp_path):
    config = transformers.ASTConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_length=64
    )
    _save(tmp_path, transformers.ASTModel(config), transformers.ASTFeatureExtractor())
    with pytest.raises(EncoderError, match="not supported by hf:"):
        load_encoder(f"hf:{tmp_path}")


@pytest.mark.parametrize("example", ["wav2vec2", "data2vec", "whisper", "hubert"])
def test_example_wrappers_name_public_models(example, monkeypatch, tmp_path):
    """The example files load their hub model through HuggingFaceEncoder (no download here)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(EncoderError, match=r"hf download (facebook|openai)/"):
        load_encoder(EXAMPLES / example / f"{example}_encoder.py")


def test_layer_all_returns_every_hidden_state_for_one_encode(tmp_path):
    """hf:NAME@layer=all: [B, L, T', D] with L = hidden layers + 1; layer k of it is @layer=k."""
    folder = _wav2vec2(tmp_path / "w2v")
    every = load_encoder(f"hf:{folder}@layer=all")
    assert type(every).__name__ == "W2vAllLayersEncoder" and every.num_layers == 3
    assert find_contract_violations(every) == []
    audio = torch.randn(2, 16000, generator=torch.Generator().manual_seed(4)) * 0.1
    with torch.inference_mode():
        layers = every(audio)
        last = load_encoder(f"hf:{folder}")(audio)
        middle = load_encoder(f"hf:{folder}@layer=1")(audio)
    assert layers.shape == (2, 3, last.shape[1], 16)
    torch.testing.assert_close(layers[:, -1], last)
    torch.testing.assert_close(layers[:, 1], middle)
    assert parse_hf_spec("m@layer=all").layer == "all"
    with pytest.raises(EncoderError, match="integer or 'all'"):
        parse_hf_spec("m@layer=every")


def test_layer_all_chunks_long_audio_on_the_frame_axis(tmp_path):
    every = load_encoder(f"hf:{_wav2vec2(tmp_path, normalize=False)}@layer=all")
    every.chunk_step = 320 * 25  # 0.5 s chunks
    audio = torch.randn(1, 16000 + 77, generator=torch.Generator().manual_seed(5)) * 0.1
    with torch.inference_mode():
        out = every(audio)
    assert out.shape == (1, 3, (audio.shape[-1] - 400) // 320 + 1, 16)


def test_layer_all_probes_every_layer_from_one_store(tmp_path):
    from toy_data import make_task_file

    from xares.task import RunOptions, XaresTask, load_task_config

    every = load_encoder(f"hf:{_wav2vec2(tmp_path / 'w2v')}@layer=all")
    path = make_task_file(tmp_path, extra=f"env_root={str(tmp_path / 'env')!r},")
    scores = {}
    for layer in (0, -1, "weighted"):
        result = XaresTask(load_task_config(path, every), options=RunOptions(layer=layer)).run()
        assert result.status == "ok" and result.num_layers == 3
        scores[layer] = result.mlp_score
    assert len([p for p in (tmp_path / "env/toy/embeddings").iterdir() if p.is_dir()]) == 1
    assert all(score is not None for score in scores.values())
