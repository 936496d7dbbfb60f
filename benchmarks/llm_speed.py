"""Steps per second of LLM-track training from the store, against running the encoder inside the
training loop on the same audio (what the published XARES-LLM does): the same model, batches, LM and
optimiser; only where the frames come from differs.

    python benchmarks/llm_speed.py [--encoder example/mel/mel_encoder.py] [--llm tiny-random]
                                   [--steps 20] [--batch-size 8] [--device cpu]

--llm smollm2-sized builds a random Llama with SmolLM2-135M's shape (576 wide, 30 layers, 9 heads,
3 KV heads, 49152 tokens; a character tokenizer) for a GPU check without the weights. The audio is
the toy tone task of the tests (1 s clips at 16 kHz), written to a temporary folder and encoded once
for the store side; the in-loop side encodes every batch's audio, as the published trainer does.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def smollm2_sized(folder: Path) -> str:
    """A random model of SmolLM2-135M's architecture in `folder` (no weights downloaded)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from xares.llm.lm import write_tiny_random

    write_tiny_random(folder)  # the character tokenizer (no words given)
    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        eos_token_id=0,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--encoder", default=str(ROOT / "example" / "mel" / "mel_encoder.py"))
    parser.add_argument("--llm", default="tiny-random", help="tiny-random, smollm2-sized, a folder or .gguf")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from toy_data import make_task_file

    from xares.encoder import describe_encoder, load_encoder
    from xares.llm.answers import parse_answers
    from xares.llm.lm import load_language_model
    from xares.llm.model import AudioLlm
    from xares.llm.protocol import offline_settings
    from xares.llm.run import task_data
    from xares.llm.train import train_llm
    from xares.store import load_split
    from xares.task import RunOptions, XaresTask, load_task_config

    work = Path(tempfile.mkdtemp(prefix="xares-llm-speed-"))
    encoder = load_encoder(args.encoder).to(args.device).eval()
    info = describe_encoder(encoder, args.encoder)
    config = load_task_config(make_task_file(work), encoder, env_root=work / "env")
    task = XaresTask(config, options=RunOptions(), encoder_info=info)
    task.run(from_stage=0, to_stage=1)
    answers = parse_answers(
        {
            "task": "toy",
            "prompt": "Classify the tone.",
            "key": "label",
            "metric": "Accuracy",
            "prob": 1,
            "train": ["train"],
            "test": ["test"],
        },
        "benchmark",
    )
    train = task_data(
        answers,
        {"train": load_split(task.split_dir("train"), task.store_key("train"))},
        ("train",),
        every_text=True,
    )
    spec = smollm2_sized(work / "smollm2-sized") if args.llm == "smollm2-sized" else args.llm
    lm = load_language_model(spec)
    settings = offline_settings().replace(max_steps=args.steps, batch_size=args.batch_size, warmup_steps=0)

    audio = _toy_audio(train, config)

    def timed(encode_in_loop: bool) -> float:
        torch.manual_seed(settings.seed)
        model = AudioLlm(
            copy.deepcopy(lm.model), lm.tokenizer, int(train.splits[0].frames.shape[-1]), settings.lora
        )
        model = model.to(args.device)
        original = train.frames
        if encode_in_loop:

            def frames(item: int) -> np.ndarray:
                wave = torch.as_tensor(audio[train.items[item][1]], device=args.device)[None]
                with torch.no_grad():
                    return encoder(wave)[0].float().cpu().numpy()

            train.frames = frames  # type: ignore[method-assign]
        try:
            train_llm(model, [train], settings.replace(max_steps=2), hop_size_in_ms=info.hop_size_in_ms)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            train_llm(model, [train], settings, hop_size_in_ms=info.hop_size_in_ms)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            return args.steps / (time.perf_counter() - started)
        finally:
            train.frames = original  # type: ignore[method-assign]

    timed(False)  # one untimed round first: allocator, kernels and caches warm for both sides
    in_loop = timed(True)
    store = timed(False)
    print(
        f"LLM: {lm.name} ({lm.describe()['num_parameters']:,} parameters), encoder {info.name}, "
        f"device {args.device}, batch {args.batch_size}, {args.steps} steps, torch threads "
        f"{torch.get_num_threads()}"
    )
    print(f"from the store:          {store:8.3f} steps/s")
    print(f"encoder inside the loop: {in_loop:8.3f} steps/s")
    print(f"store / in-loop:         {store / in_loop:8.2f} x")


def _toy_audio(train, config) -> list[np.ndarray]:
    """Every stored training clip's waveform, read back from its shard in store order."""
    import io
    import tarfile

    import soundfile as sf

    from xares.data.shards import find_shards

    waves: dict[str, np.ndarray] = {}
    for shard in find_shards(config.task_dir, config.shard_pattern("train")):
        with tarfile.open(shard) as archive:
            for member in archive.getmembers():
                if member.name.endswith(".wav"):
                    data, _ = sf.read(io.BytesIO(archive.extractfile(member).read()), dtype="float32")
                    waves[member.name.rsplit(".", 1)[0]] = data
    return [waves[str(sample["key"])] for sample in train.splits[0].samples]


if __name__ == "__main__":
    main()
