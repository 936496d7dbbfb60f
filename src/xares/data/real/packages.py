"""The Debian packages the real suite reads, pinned as `apt-cache show` printed them (bookworm, 2026-12).

To pin another version: `apt-cache show NAME` (or https://packages.debian.org/NAME, old versions at
https://snapshot.debian.org/) and copy Version, Filename, Size and SHA256 here.
"""

from __future__ import annotations

from pathlib import Path

from xares.data.debian import DebianPackage, fetch_package

TUXPAINT_STAMPS = DebianPackage(
    "tuxpaint-stamps-default",
    "2022.06.04-1",
    "pool/main/t/tuxpaint-stamps/tuxpaint-stamps-default_2022.06.04-1_all.deb",
    160880444,
    "6db6c1bfc870a47f1499d6203b083522eacb57c5f9c87d468f2e92eb6d9d5f34",
)
ASTERISK_EN_WAV = DebianPackage(
    "asterisk-core-sounds-en-wav",
    "1.6.1-1",
    "pool/main/a/asterisk-core-sounds/asterisk-core-sounds-en-wav_1.6.1-1_all.deb",
    18272864,
    "2be3ea287d83299d143815fa804f11179a75b7affd4a758b98b55f5afc18a35d",
)
ASTERISK_EN = DebianPackage(
    "asterisk-core-sounds-en",
    "1.6.1-1",
    "pool/main/a/asterisk-core-sounds/asterisk-core-sounds-en_1.6.1-1_all.deb",
    22844,
    "973e797d28e37fa6ca3c0a9d6fa717e77cf1268ae916bf09fd3503113cdffa50",
)
ASTERISK_ES_WAV = DebianPackage(
    "asterisk-core-sounds-es-wav",
    "1.6.1-1",
    "pool/main/a/asterisk-core-sounds/asterisk-core-sounds-es-wav_1.6.1-1_all.deb",
    23767256,
    "9283a09a6d56fccdcc2bcfe86c48f0f844289cfbd46a3184d8785a6f7f569903",
)
FREEPATS = DebianPackage(
    "freepats",
    "20060219-4",
    "pool/main/f/freepats/freepats_20060219-4_all.deb",
    25089504,
    "1282628c7ec015f0d39a8b1ee58a2d942220bbad38173d005bbfbaaf36e1d6f1",
)
ALL: tuple[DebianPackage, ...] = (TUXPAINT_STAMPS, ASTERISK_EN_WAV, ASTERISK_EN, ASTERISK_ES_WAV, FREEPATS)


def cache_dir_for(scratch: Path) -> Path:
    """The package cache of a generator's scratch folder (which acquire puts in the env root)."""
    return Path(scratch).resolve().parent / ".downloads" / "debian"


def fetch(package: DebianPackage, scratch: Path) -> Path:
    return fetch_package(package, cache_dir_for(scratch))
