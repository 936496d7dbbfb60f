"""Stage 0 against the local Zenodo stand-in, one server behaviour at a time: the scenario table of issue 15.

Run from the repository root: `python -m tests.data.scenarios` (about a minute; no network beyond
127.0.0.1). Each scenario starts a fresh stand-in and a fresh env root, runs `xares fetch` in this
process (retry waits recorded, not slept, so a Retry-After of 300 s costs nothing), and measures what
happened: exit status, requests, Range headers, waits, the marker, and the words the user sees. The
two-process scenario runs real `xares fetch` processes. Prints a markdown table.

Not collected by pytest (the tests that guard each row live in test_zenodo_faults.py,
test_fetch_cli_faults.py, test_acquire_ready.py and test_fault_download.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

from tests.data.conftest import FakeZenodo, running_fake_zenodo
from tests.data.fake_records import TASKS_DIR, build_record
from xares import cli
from xares.data import zenodo

TASK = """
from xares.task import TaskConfig


def remote_config(encoder):
    return TaskConfig(name="remote", zenodo_id="{record}", encoder=encoder, output_dim=2)
"""
ROWS: list[tuple[str, str]] = []


def blob(n: int, seed: int = 0) -> bytes:
    return hashlib.shake_256(str(seed).encode()).digest(n)


def three_shards(size: int = 20_000) -> dict[str, bytes]:
    return {f"{split}-000000.tar": blob(size, i) for i, split in enumerate(("train", "valid", "test"))}


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    old = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old)


class Waits:
    """RetryPolicy's sleep, recorded instead of slept."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def fetch(argv: list[str], waits: Waits) -> tuple[int, str, float]:
    """`xares fetch ARGV` in this process; (exit status, what it printed, seconds)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=400, color_system=None)
    original_init = zenodo.RetryPolicy.__init__

    def init(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        kwargs.setdefault("sleep", waits)
        original_init(self, *args, **kwargs)

    zenodo.RetryPolicy.__init__ = init
    started = time.perf_counter()
    try:
        args = cli.build_parser().parse_args(["fetch", "-q", *argv])
        logging.basicConfig(
            level=logging.WARNING,
            format="%(message)s",
            handlers=[RichHandler(console=console, show_path=False, show_time=False)],
            force=True,
        )
        code = cli._fetch(args, console)
    finally:
        zenodo.RetryPolicy.__init__ = original_init
    return code, " ".join(buffer.getvalue().split()), time.perf_counter() - started


def file_requests(fake: FakeZenodo) -> int:
    return sum(n for k, n in fake.hits.items() if k.startswith("file:"))


def scenario(behaviour: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    def register(run: Callable[[], str]) -> Callable[[], str]:
        try:
            outcome = run()
        except Exception as exc:  # a scenario that breaks is a row too
            outcome = f"SCENARIO BROKE: {type(exc).__name__}: {exc}"
        ROWS.append((behaviour, outcome))
        print(f"- {behaviour}: {outcome}", file=sys.stderr)
        return run

    return register


def remote(fake: FakeZenodo, files: dict[str, bytes], record: str = "888") -> list[str]:
    fake.add(record, files)
    Path("remote_task.py").write_text(TASK.format(record=record))
    return ["remote_task.py", "--zenodo-url", fake.url]


def ready() -> str:
    path = Path("env/remote/.audio_tar_ready")
    if not path.exists():
        return "no marker"
    marker = json.loads(path.read_text())
    return f"marker verified={marker['verified']}"


def excerpt(text: str, *needles: str) -> str:
    found = [n for n in needles if n in text]
    return "says " + ", ".join(f"“{n}”" for n in found) if found else f"says: {text[:160]}"


def main() -> None:  # noqa: C901, PLR0915 (one scenario after another)
    @scenario("healthy record, 3 shards")
    def _() -> str:
        with workdir(), running_fake_zenodo() as fake:
            w = Waits()
            argv = remote(fake, three_shards())
            code, out, _ = fetch(argv, w)
            hits = sum(fake.hits.values())
            again, _, _ = fetch(argv, w)
            return (
                f"exit {code}, {file_requests(fake)} file requests, {ready()}; second run exit {again} "
                f"with {sum(fake.hits.values()) - hits} requests"
            )

    @scenario("ESC-50 record without wds-audio-fold-5-000000.tar")
    def _() -> str:
        with workdir() as tmp, running_fake_zenodo() as fake:
            record = build_record(TASKS_DIR / "esc50_task.py", tmp)
            fake.add(record.record_id, {k: v for k, v in record.files.items() if "fold-5" not in k})
            argv = [str(TASKS_DIR / "esc50_task.py"), "--zenodo-url", fake.url]
            code, out, _ = fetch(argv, Waits())
            code2, out2, _ = fetch(argv, Waits())
            said = excerpt(out, "split 5", "wds-audio-fold-5-*.tar")
            return f"exit {code}, then {code2} again; no marker; {said}"

    @scenario("connection cut every 750 kB of a 3.6 MB shard")
    def _() -> str:
        with workdir(), running_fake_zenodo() as fake:
            argv = remote(fake, {**three_shards(), "train-000000.tar": blob(3_600_000, 9)})
            fake.faults["train-000000.tar"] = ["cut:750000"] * 10
            code, _, _ = fetch(argv, Waits())
            ranges = [r for r in fake.ranges["train-000000.tar"]]
            return f"exit {code}; requests with Range: {ranges}; {ready()}"

    @scenario("200 kB shard, connection cut once at 123,457 bytes")
    def _() -> str:
        with workdir(), running_fake_zenodo() as fake:
            argv = remote(fake, {**three_shards(), "valid-000000.tar": blob(200_000, 3)})
            fake.faults["valid-000000.tar"] = ["cut:123457"]
            code, _, _ = fetch(argv, Waits())
            return f"exit {code}; Range headers {fake.ranges['valid-000000.tar']}"

    @scenario("connection cut every 9 kB, 12 tries (5 without progress are fatal)")
    def _() -> str:
        with workdir(), running_fake_zenodo() as fake:
            argv = remote(fake, {**three_shards(), "test-000000.tar": blob(100_000, 4)})
            fake.faults["test-000000.tar"] = ["cut:9000"] * 11
            code, _, _ = fetch(argv, Waits())
            return f"exit {code} after {len(fake.ranges['test-000000.tar'])} requests for the file"

    for status in ("429", "503"):
        for after in ("300", "7200"):

            @scenario(f"HTTP {status} with Retry-After: {after} on the listing")
            def _(status: str = status, after: str = after) -> str:
                with workdir(), running_fake_zenodo() as fake:
                    argv = remote(fake, three_shards())
                    fake.faults["888"] = [status]
                    fake.retry_after = after
                    fake.retry_after_5xx = after
                    w = Waits()
                    code, out, seconds = fetch(argv, w)
                    return (
                        f"exit {code}; waits {w.waits}; {fake.hits['listing:888']} listing requests; "
                        + excerpt(
                            out, "waiting until", "more than the ceiling of 3600 s", "--max-retry-after"
                        )
                    )

    @scenario("HTTP 429 with Retry-After: 7200, --max-retry-after 10000")
    def _() -> str:
        with workdir(), running_fake_zenodo() as fake:
            argv = remote(fake, three_shards())
            fake.faults["888"] = ["429"]
            fake.retry_after = "7200"
            w = Waits()
            code, _, _ = fetch([*argv, "--max-retry-after", "10000"], w)
            return f"exit {code}; waits {w.waits}"

    for status in ("408", "425", "500", "501", "507", "520", "522", "524", "599"):

        @scenario(f"HTTP {status} once on a shard")
        def _(status: str = status) -> str:
            with workdir(), running_fake_zenodo() as fake:
                argv = remote(fake, three_shards())
                fake.faults["train-000000.tar"] = [status]
                w = Waits()
                code, _, _ = fetch(argv, w)
                return f"exit {code}; retried after {w.waits} s; {ready()}"

    for status in ("403", "451"):

        @scenario(f"HTTP {status} on a shard")
        def _(status: str = status) -> str:
            with workdir(), running_fake_zenodo() as fake:
                argv = remote(fake, three_shards())
                fake.faults["train-000000.tar"] = [status]
                w = Waits()
                code, out, _ = fetch(argv, w)
                said = excerpt(out, f"HTTP {status}", "--print-urls")
                return f"exit {code} at once ({len(w.waits)} waits); {said}"

    @scenario("HTTP 503 on every request for a shard")
    def _() -> str:
        with workdir(), running_fake_zenodo() as fake:
            argv = remote(fake, three_shards())
            fake.faults["train-000000.tar"] = ["503"] * 20
            w = Waits()
            code, out, _ = fetch(argv, w)
            return (
                f"exit {code} after {fake.hits['file:train-000000.tar']} tries, waits {w.waits}; "
                + excerpt(out, "failed 5 times in a row", "reports trouble on its side", "--print-urls")
            )

    @scenario("one byte flipped in one answer")
    def _() -> str:
        with workdir(), running_fake_zenodo() as fake:
            argv = remote(fake, three_shards())
            fake.faults["train-000000.tar"] = ["corrupt"]
            code, _, _ = fetch(argv, Waits())
            return f"exit {code}; {fake.hits['file:train-000000.tar']} downloads of the shard; {ready()}"

    @scenario("published md5 wrong (every answer mismatches)")
    def _() -> str:
        with workdir(), running_fake_zenodo() as fake:
            argv = remote(fake, three_shards())
            fake.wrong_md5.add("train-000000.tar")
            code, out, _ = fetch(argv, Waits())
            final = (
                Path("env/.downloads/888/train-000000.tar").exists()
                or Path("env/remote/train-000000.tar").exists()
            )
            return f"exit {code}; file under its final name: {final}; " + excerpt(
                out, "failed its checksum 2 times", "was deleted"
            )

    @scenario("Range ignored after a drop (200 with the whole file)")
    def _() -> str:
        with workdir(), running_fake_zenodo() as fake:
            argv = remote(fake, three_shards(300_000))
            fake.faults["train-000000.tar"] = ["drop", "ignore_range"]
            code, _, _ = fetch(argv, Waits())
            return f"exit {code}; Range headers {fake.ranges['train-000000.tar']}; {ready()}"

    @scenario("302 redirect for the listing and for a shard")
    def _() -> str:
        with workdir(), running_fake_zenodo() as fake:
            argv = remote(fake, three_shards())
            fake.faults["888"] = ["redirect"]
            fake.faults["train-000000.tar"] = ["redirect"]
            code, _, _ = fetch(argv, Waits())
            return f"exit {code}; {fake.hits['file:train-000000.tar']} requests for the shard; {ready()}"

    @scenario("listing answered with an HTML page (a proxy or captive portal)")
    def _() -> str:
        with workdir(), running_fake_zenodo() as fake:
            argv = remote(fake, three_shards())
            fake.faults["888"] = ["html"]
            code, out, _ = fetch(argv, Waits())
            return f"exit {code}; {ready()}; " + excerpt(out, "did not answer with JSON", "a Zenodo server?")

    @scenario("server silent 1.5 s before answering, --read-timeout 0.2 / 20")
    def _() -> str:
        with workdir(), running_fake_zenodo() as fake:
            argv = remote(fake, three_shards())
            fake.faults["888"] = ["sleep:1.5"] * 5
            code, out, _ = fetch([*argv, "--read-timeout", "0.2"], Waits())
            fake.faults["888"] = ["sleep:1.5"]
            code2, _, _ = fetch([*argv, "--read-timeout", "20"], Waits())
            said = excerpt(out, "no data for 0.2 s", "--read-timeout")
            return f"exit {code} ({said}); with 20 s: exit {code2}"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"

    @scenario("server down (connection refused), nothing in place")
    def _() -> str:
        with workdir():
            Path("remote_task.py").write_text(TASK.format(record="888"))
            code, out, _ = fetch(["remote_task.py", "--zenodo-url", dead], Waits())
            rate = "rate" in out.lower()
            return f"exit {code}; mentions rate limits: {rate}; " + excerpt(
                out,
                "connection refused",
                "comes from --zenodo-url",
                "--from-stage 1",
                "missing: split 'train'",
            )

    @scenario("server down, URL from $XARES_ZENODO_URL")
    def _() -> str:
        with workdir():
            Path("remote_task.py").write_text(TASK.format(record="888"))
            os.environ["XARES_ZENODO_URL"] = dead
            try:
                code, out, _ = fetch(["remote_task.py"], Waits())
            finally:
                del os.environ["XARES_ZENODO_URL"]
            return f"exit {code}; " + excerpt(out, "comes from $XARES_ZENODO_URL")

    @scenario("server down, every shard placed by hand, no listing cached")
    def _() -> str:
        with workdir():
            Path("remote_task.py").write_text(TASK.format(record="888"))
            Path("env/remote").mkdir(parents=True)
            for name, data in three_shards().items():
                Path("env/remote", name).write_bytes(data)
            code, out, _ = fetch(["remote_task.py", "--zenodo-url", dead], Waits())
            return f"exit {code}; {ready()}; " + excerpt(out, "without checking their md5s")

    @scenario("server up, every shard placed by hand")
    def _() -> str:
        with workdir(), running_fake_zenodo() as fake:
            files = three_shards()
            argv = remote(fake, files)
            Path("env/remote").mkdir(parents=True)
            for name, data in files.items():
                Path("env/remote", name).write_bytes(data)
            code, _, _ = fetch(argv, Waits())
            return f"exit {code}; {file_requests(fake)} file requests; {ready()}"

    @scenario("zip with a member ../../escaped.txt")
    def _() -> str:
        with workdir() as tmp, running_fake_zenodo() as fake:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                for name, data in three_shards().items():
                    archive.writestr(name, data)
                archive.writestr("../../escaped.txt", b"x")
            argv = remote(fake, {"shards.zip": buffer.getvalue()})
            code, out, _ = fetch(argv, Waits())
            escaped = any(p.name == "escaped.txt" for p in tmp.parent.rglob("escaped.txt"))
            return f"exit {code}; written outside: {escaped}; " + excerpt(
                out, "'../../escaped.txt'", "cannot help", "same bytes"
            )

    @scenario("--print-urls --format tsv / json")
    def _() -> str:
        with workdir(), running_fake_zenodo() as fake:
            files = three_shards()
            argv = remote(fake, files)
            with contextlib.redirect_stdout(io.StringIO()) as out:
                code, _, _ = fetch(["--print-urls", "--format", "tsv", *argv], Waits())
            lines = out.getvalue().splitlines()
            with contextlib.redirect_stdout(io.StringIO()) as out:
                code2, _, _ = fetch(["--print-urls", "--format", "json", *argv], Waits())
            document = json.loads(out.getvalue())
            right = all(
                row["md5"] == hashlib.md5(files[Path(row["destination"]).name]).hexdigest()
                for row in document["files"]
            )
            header = lines[0].split("\t")
            return (
                f"tsv exit {code}: header {header}, {len(lines) - 1} rows; "
                f"json exit {code2}: {len(document['files'])} files, md5s right: {right}"
            )

    @scenario("umask 002 (an env root shared by a group)")
    def _() -> str:
        old = os.umask(0o002)
        try:
            with workdir(), running_fake_zenodo() as fake:
                argv = remote(fake, three_shards())
                fetch(argv, Waits())
                paths = [p for p in Path("env").rglob(".*") if p.is_file()] + list(
                    Path("env").rglob("*.lock")
                )
                modes = sorted({oct(p.stat().st_mode & 0o777) for p in paths})
                return f"{len(paths)} markers, listings and locks, modes {modes}"
        finally:
            os.umask(old)

    @scenario("two `xares fetch` at once on one env root (listing answered after 10 s)")
    def _() -> str:
        with workdir() as tmp, running_fake_zenodo() as fake:
            argv = remote(fake, three_shards())
            fake.faults["888"] = ["sleep:10"]
            command = [sys.executable, "-m", "xares.cli", "fetch", "-q", *argv]
            env = {
                **os.environ,
                "COLUMNS": "400",
                "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
            }
            first = subprocess.Popen(
                command, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            deadline = time.monotonic() + 60
            while not fake.hits["listing:888"] and time.monotonic() < deadline:
                time.sleep(0.05)
            second = subprocess.Popen(
                command, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            _, out2 = (
                first.communicate(timeout=120)[0],
                " ".join(second.communicate(timeout=120)[0].split()),
            )
            waited = f"pid {first.pid}" in out2
            return (
                f"exits {first.returncode}, {second.returncode}; each file requested "
                f"{sorted({n for k, n in fake.hits.items() if k.startswith('file:')})} time(s); "
                "second names the "
                f"first's pid: {waited}; "
                + excerpt(out2, "holds the lock", "waiting for it to finish", "the lock is free")
            )

    print("| server behaviour | what X-ARES does (measured) |")
    print("|---|---|")
    for behaviour, outcome in ROWS:
        print(f"| {behaviour} | {outcome.replace('|', '/')} |")


if __name__ == "__main__":
    main()
