import textwrap

import pytest
import torch

from xares.encoder import describe_encoder, encoder_fingerprint, load_encoder
from xares.errors import EncoderError

TWO_LAYER = """
import torch

class HelperModule(torch.nn.Module):
    pass

class TinyEncoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed({seed})
        self.sampling_rate = 16000
        self.hop_size_in_ms = 10
        self.output_dim = 4
        self.proj = torch.nn.Linear(160, 4)

    def forward(self, audio):
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        frames = audio[:, : audio.shape[1] // 160 * 160].reshape(audio.shape[0], -1, 160)
        return self.proj(frames)
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_loads_the_one_encoder_class(tmp_path):
    encoder = load_encoder(write(tmp_path, "tiny.py", TWO_LAYER.format(seed=0)))
    assert type(encoder).__name__ == "TinyEncoder"


def test_no_encoder_class_is_a_clear_error(tmp_path):
    path = write(tmp_path, "none.py", "import torch\nclass Model(torch.nn.Module):\n    pass\n")
    with pytest.raises(EncoderError, match=r"no class whose name ends in 'Encoder'.*Model"):
        load_encoder(path)


def test_several_encoder_classes_is_a_clear_error_with_the_fix(tmp_path):
    text = TWO_LAYER.format(seed=0) + "\nclass OtherEncoder(TinyEncoder):\n    pass\n"
    path = write(tmp_path, "two.py", text)
    with pytest.raises(
        EncoderError, match=r"several classes.*OtherEncoder, TinyEncoder.*two.py:OtherEncoder"
    ):
        load_encoder(path)
    assert type(load_encoder(f"{path}:OtherEncoder")).__name__ == "OtherEncoder"


def test_imported_encoder_classes_do_not_count(tmp_path):
    write(tmp_path, "base_mod.py", TWO_LAYER.format(seed=0).replace("TinyEncoder", "BaseEncoder"))
    path = write(
        tmp_path,
        "child.py",
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from base_mod import BaseEncoder

        class ChildEncoder(BaseEncoder):
            pass
        """,
    )
    assert type(load_encoder(path)).__name__ == "ChildEncoder"


def test_missing_attributes_are_named(tmp_path):
    path = write(tmp_path, "bare.py", "import torch\nclass BareEncoder(torch.nn.Module):\n    pass\n")
    with pytest.raises(EncoderError, match="sampling_rate, output_dim, hop_size_in_ms"):
        load_encoder(path)


def test_new_weights_under_the_same_class_name_give_a_new_fingerprint(tmp_path):
    first = load_encoder(write(tmp_path, "a.py", TWO_LAYER.format(seed=0)))
    again = load_encoder(write(tmp_path, "b.py", TWO_LAYER.format(seed=0)))
    other = load_encoder(write(tmp_path, "c.py", TWO_LAYER.format(seed=1)))
    assert encoder_fingerprint(first) == encoder_fingerprint(again)
    assert encoder_fingerprint(first) != encoder_fingerprint(other)
    with torch.no_grad():
        again.proj.bias.add_(1e-3)
    assert encoder_fingerprint(first) != encoder_fingerprint(again)


def test_declared_hop_is_part_of_the_fingerprint(tmp_path):
    encoder = load_encoder(write(tmp_path, "h.py", TWO_LAYER.format(seed=0)))
    before = encoder_fingerprint(encoder)
    encoder.hop_size_in_ms = 20
    assert encoder_fingerprint(encoder) != before


def test_describe(tmp_path):
    info = describe_encoder(load_encoder(write(tmp_path, "d.py", TWO_LAYER.format(seed=0))), "d.py")
    assert (info.name, info.output_dim, info.num_parameters, info.pads_safely) == (
        "TinyEncoder",
        4,
        644,
        False,
    )
    assert info.store_name == f"TinyEncoder-{info.fingerprint[:12]}"
