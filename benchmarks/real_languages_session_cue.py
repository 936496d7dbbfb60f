"""How much of real_allison_languages the recording sessions alone give away, measured on its shards.

Allison recorded the English and the Spanish prompts in different sessions. This script measures two
cues that are not the language: each clip's noise floor (the 5th percentile of its 10 ms frame peaks,
in dBFS) per language, and the test accuracy of a logistic regression trained on the mean log power
spectrum of only the quietest 10 % of each clip's frames (mostly pauses: room and microphone noise),
beside the same regression on the mean spectrum of all frames. Usage, after the task was built once
(`python -m xares.run ... src/tasks/real/allison_languages_task.py`):

    python benchmarks/real_languages_session_cue.py [--env-root DIR]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import stft
from sklearn.linear_model import LogisticRegression

from xares.data.shards import iter_shard

TASK = "real_allison_languages"


def clip_features(wave: np.ndarray, rate: int) -> tuple[float, np.ndarray, np.ndarray]:
    """(noise floor in dBFS, mean log spectrum of the quietest 10 % of frames, of all frames)."""
    hop = rate // 100
    frames = np.abs(wave[: len(wave) // hop * hop]).reshape(-1, hop).max(axis=1)
    floor = 20 * np.log10(np.sort(frames)[len(frames) // 20] + 1e-9)
    power = np.log(np.abs(stft(wave, rate, nperseg=256)[2]) ** 2 + 1e-12)
    quietest = np.argsort(power.mean(axis=0))[: max(3, power.shape[1] // 10)]
    return floor, power[:, quietest].mean(axis=1), power.mean(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-root", default="env")
    task_dir = Path(parser.parse_args().env_root) / TASK
    data: dict[str, dict[str, list]] = {}
    for split in ("train", "test"):
        rows = data[split] = {"floor": [], "quiet": [], "all": [], "label": []}
        shards = sorted(task_dir.glob(f"{split}-*.tar"))
        if not shards:
            raise SystemExit(f"no {split} shards in {task_dir}: build the task first (see the docstring)")
        for shard in shards:
            for sample in iter_shard(shard):
                wave, rate = sf.read(io.BytesIO(sample.audio))
                floor, quiet, full = clip_features(wave, rate)
                for key, value in (("floor", floor), ("quiet", quiet), ("all", full)):
                    rows[key].append(value)
                rows["label"].append(sample.meta["label"])
    labels = np.array(data["train"]["label"] + data["test"]["label"])
    floors = np.array(data["train"]["floor"] + data["test"]["floor"])
    for language in sorted(set(labels)):
        print(f"{language}: median noise floor {np.median(floors[labels == language]):.1f} dBFS")
    test_labels = data["test"]["label"]
    chance = max(test_labels.count(c) for c in set(test_labels)) / len(test_labels)
    for name, words in (("quiet", "the quietest 10 % of frames"), ("all", "all frames")):
        model = LogisticRegression(max_iter=3000).fit(np.array(data["train"][name]), data["train"]["label"])
        accuracy = model.score(np.array(data["test"][name]), test_labels)
        print(f"logistic regression on the mean log spectrum of {words}: test accuracy {accuracy:.3f}")
    print(f"chance (largest test class): {chance:.3f}")


if __name__ == "__main__":
    main()
