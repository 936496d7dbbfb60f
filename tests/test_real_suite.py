"""The real-recording suite: class rules and deterministic builds.

The builds from the real Debian packages (228 MB in all) run only when the packages are already in
the cache ($XARES_DEBIAN_CACHE, default env/.downloads/debian) or XARES_REAL_SUITE=1 asks for the
download.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.data.test_debian import make_deb
from xares.data.debian import fetch_package
from xares.data.real.packages import ASTERISK_EN, ASTERISK_EN_WAV, ASTERISK_ES_WAV, FREEPATS, TUXPAINT_STAMPS
from xares.data.real.stamp_sounds import build, stamp_class
from xares.data.shards import iter_shard

CACHE = Path(os.environ.get("XARES_DEBIAN_CACHE", "env/.downloads/debian"))


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.tar"))}


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("usr/share/tuxpaint/stamps/animals/birds/robin.ogg", "bird"),
        ("usr/share/tuxpaint/stamps/animals/marsupials/koala.ogg", "mammal"),
        ("usr/share/tuxpaint/stamps/animals/insects/bee.ogg", None),
        ("usr/share/tuxpaint/stamps/household/kettle.ogg", "object"),
        ("usr/share/tuxpaint/stamps/household/kettle_desc_fr.ogg", None),
        ("usr/share/tuxpaint/stamps/symbols/math/plus.ogg", None),
        ("usr/share/tuxpaint/stamps/household/kettle.png", None),
    ],
)
def test_stamp_class(path: str, label: str | None) -> None:
    assert stamp_class(path) == label


def test_stamp_build_on_a_small_package(tmp_path: Path) -> None:
    names = [f"./usr/share/tuxpaint/stamps/animals/birds/b{i}.ogg" for i in range(6)]
    names += ["./usr/share/tuxpaint/stamps/town/car.ogg", "./usr/share/tuxpaint/stamps/symbols/x.ogg"]
    deb = tmp_path / "stamps.deb"
    deb.write_bytes(make_deb({name: name.encode() for name in names}))
    build(deb, tmp_path / "a")
    build(deb, tmp_path / "b")
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    labels = [s.meta["label"] for p in sorted((tmp_path / "a").glob("*.tar")) for s in iter_shard(p)]
    assert sorted(labels) == ["bird"] * 6 + ["object"]


def _cached_or_asked(*packages) -> pytest.MarkDecorator:
    missing = [p for p in packages if not (CACHE / p.file_name).is_file()]
    return pytest.mark.skipif(
        bool(missing) and os.environ.get("XARES_REAL_SUITE") != "1",
        reason=f"SKIPPED: the real package(s) {', '.join(p.name for p in missing)} are not cached in "
        f"{CACHE} (set XARES_DEBIAN_CACHE to a cache that holds them); set XARES_REAL_SUITE=1 to "
        "download them and run this test",
    )


def _stamps(out: Path) -> None:
    build(fetch_package(TUXPAINT_STAMPS, CACHE), out)


def _languages(out: Path) -> None:
    from xares.data.real.allison_languages import build as build_languages

    debs = {"en": fetch_package(ASTERISK_EN_WAV, CACHE), "es": fetch_package(ASTERISK_ES_WAV, CACHE)}
    build_languages(debs, out)


def _asr(out: Path) -> None:
    from xares.data.real.allison_asr import build as build_asr

    build_asr(fetch_package(ASTERISK_EN_WAV, CACHE), fetch_package(ASTERISK_EN, CACHE), out)


def _instruments(out: Path) -> None:
    from xares.data.real.freepats import build as build_freepats

    build_freepats(fetch_package(FREEPATS, CACHE), out)


@pytest.mark.parametrize(
    ("builder", "shards"),
    [
        pytest.param(_stamps, 5, marks=_cached_or_asked(TUXPAINT_STAMPS), id="stamp_sounds"),
        pytest.param(
            _languages, 3, marks=_cached_or_asked(ASTERISK_EN_WAV, ASTERISK_ES_WAV), id="allison_languages"
        ),
        pytest.param(_asr, 3, marks=_cached_or_asked(ASTERISK_EN_WAV, ASTERISK_EN), id="allison_asr"),
        pytest.param(_instruments, 5, marks=_cached_or_asked(FREEPATS), id="freepats"),
    ],
)
def test_real_package_builds_twice_identical(builder, shards: int, tmp_path: Path) -> None:
    builder(tmp_path / "a")
    builder(tmp_path / "b")
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert len(_digests(tmp_path / "a")) == shards


def test_allison_prompt_and_translation_share_a_split(tmp_path: Path) -> None:
    from xares.data.real.allison_languages import build as build_languages

    prompts = [f"p{i}" for i in range(30)]
    debs = {}
    for language, folder in (("en", "en_US_f_Allison"), ("es", "es_MX_f_Allison")):
        files = {f"./usr/share/asterisk/sounds/{folder}/{p}.wav": f"{language}{p}".encode() for p in prompts}
        debs[language] = tmp_path / f"{language}.deb"
        debs[language].write_bytes(make_deb(files))
    build_languages(debs, tmp_path / "a")
    build_languages(debs, tmp_path / "b")
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    side: dict[str, set[str]] = {}
    for shard in sorted((tmp_path / "a").glob("*.tar")):
        for sample in iter_shard(shard):
            side.setdefault(sample.meta["prompt"], set()).add(shard.name)
    assert len(side) == 30 and all(len(names) == 1 for names in side.values())


def test_parse_transcripts_keeps_words_drops_descriptions() -> None:
    from xares.data.real.allison_asr import parse_transcripts

    text = "; Core Asterisk Sounds\n\nbeep: [this is a beep]\nagent-pass: Please enter your password, #.\n"
    text += "digits/1: One.\nempty:\nvm-press: Press 1, or 0.\nvm-pin: Enter 4242.\nvm-3d: A 3d call.\n"
    assert parse_transcripts(text) == {
        "agent-pass": "please enter your password",
        "digits/1": "one",
        "vm-press": "press one or zero",
    }


@given(
    st.dictionaries(
        st.text("abcdefghij-", min_size=1, max_size=8),
        st.lists(st.sampled_from(list("abcdefghijkl")), min_size=1, max_size=5).map(" ".join),
        max_size=60,
    )
)
def test_closed_vocabulary_splits_test_words_are_all_heard_in_training(transcripts: dict[str, str]) -> None:
    from xares.data.real.allison_asr import candidate_split, closed_vocabulary_splits

    splits = closed_vocabulary_splits(transcripts)
    assert set(splits) == set(transcripts)
    train_words = {w for p, split in splits.items() if split == "train" for w in transcripts[p].split()}
    for prompt, split in splits.items():
        assert split in (candidate_split(prompt), "train")  # a candidate only ever moves to train
        if split != "train":
            assert set(transcripts[prompt].split()) <= train_words


def test_asr_build_leaves_out_long_prompts_and_keeps_splits_closed(tmp_path: Path) -> None:
    import gzip

    import numpy as np

    from xares.data.real.allison_asr import build
    from xares.data.shards import audio_to_bytes

    words = ["press", "one", "two", "the", "key", "please"]
    transcripts = {f"p{i}": " ".join(words[j % 6] for j in range(i, i + 3)) for i in range(40)}
    transcripts["rare"] = "xylophone"
    transcripts["long"] = "press one"
    root = "./usr/share/asterisk/sounds/en_US_f_Allison/"
    clip = audio_to_bytes(np.zeros(8000, np.float32), 8000, "WAV", "PCM_16")
    files = {f"{root}{p}.wav": clip for p in transcripts}
    files[f"{root}long.wav"] = audio_to_bytes(np.zeros(9 * 8000, np.float32), 8000, "WAV", "PCM_16")
    text = "\n".join(f"{p}: {t}." for p, t in transcripts.items()).encode()
    (tmp_path / "audio.deb").write_bytes(make_deb(files))
    doc = "./usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
    (tmp_path / "text.deb").write_bytes(make_deb({doc: gzip.compress(text, mtime=0)}))
    build(tmp_path / "audio.deb", tmp_path / "text.deb", tmp_path / "a")
    build(tmp_path / "audio.deb", tmp_path / "text.deb", tmp_path / "b")
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    shards = sorted((tmp_path / "a").glob("*.tar"))
    seen = {s.key: (shard.name.split("-")[0], s.meta["trans"]) for shard in shards for s in iter_shard(shard)}
    assert "long" not in seen and len(seen) == 41  # 9 s > 8 s
    assert seen["rare"][0] == "train"  # its word is heard nowhere else
    assert {split for split, _ in seen.values()} == {"train", "valid", "test"}


def test_freepats_folds_keep_instruments_apart() -> None:
    from xares.data.real.freepats import fold_of_instruments

    programs = [0, 1, 2, 4, 5, 6, 7, 24, 25, 26, 40, 41, 42, 43, 88, 89, 90, 91]
    # piano x7 (folds 1..5, then 1, 2), guitar x3 (dropped: < 4), strings x4, synth pad (not a class)
    assert fold_of_instruments(programs) == {
        0: 1, 1: 2, 2: 3, 4: 4, 5: 5, 6: 1, 7: 2, 40: 1, 41: 2, 42: 3, 43: 4,
    }  # fmt: skip


def test_read_patch_decodes_a_16_bit_sample() -> None:
    import struct

    import numpy as np

    from xares.data.real.freepats import read_patch

    wave = (np.sin(np.arange(800) / 5) * 20000).astype("<i2").tobytes()
    header = bytearray(96)
    struct.pack_into("<IIIH", header, 8, len(wave), 0, 0, 8000)
    struct.pack_into("<I", header, 30, 440000)
    header[55] = 1  # 16-bit, signed, no loop
    data = bytearray(b"GF1PATCH110\x00".ljust(129 + 63 + 47, b"\x00"))
    data[129 + 63 + 6] = 1
    ((got, rate, pitch),) = read_patch(bytes(data + header + wave), "toy.pat")
    assert (
        rate == 8000 and abs(pitch - 69) < 1e-9 and got.size == 800 and abs(got.max() - 20000 / 32768) < 1e-3
    )


def test_fetch_print_urls_lists_the_debian_packages_of_each_real_task(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from xares import cli
    from xares.data.debian import MIRROR_ENV

    monkeypatch.setenv(MIRROR_ENV, "http://unused.example/debian")  # restored after the test
    tasks = sorted(str(p) for p in Path("src/tasks/real").glob("*_task.py"))
    mirror = "http://mirror.example/debian/"
    args = ["fetch", "--print-urls", *tasks, "--env-root", str(tmp_path), "--debian-mirror", mirror]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    for pkg in (TUXPAINT_STAMPS, ASTERISK_EN_WAV, ASTERISK_EN, ASTERISK_ES_WAV, FREEPATS):
        line = next(row for row in printed.splitlines() if pkg.file_name in row and row.startswith("http"))
        url, digest, size, unit, target = line.split()
        assert url == f"http://mirror.example/debian/{pkg.filename}"
        assert digest == f"sha256:{pkg.sha256}" and f"{size} {unit}" == f"{pkg.size / 1e6:.2f} MB"
        assert target == f"{tmp_path}/.downloads/debian/{pkg.file_name}"
    assert "# real_allison_asr: 2 Debian packages" in printed
    assert not list(tmp_path.iterdir())  # printing downloads nothing


def test_fetch_refuses_a_mirror_that_is_not_a_url(monkeypatch, capsys) -> None:
    from xares import cli
    from xares.data.debian import MIRROR_ENV

    monkeypatch.setenv(MIRROR_ENV, "http://unused.example/debian")
    task = "src/tasks/real/stamp_sounds_task.py"
    assert cli.main(["fetch", "--print-urls", task, "--debian-mirror", "deb.debian.org"]) == 2
    assert "'deb.debian.org' is not an http(s) URL" in capsys.readouterr().out
