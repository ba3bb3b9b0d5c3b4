"""``local/ocr`` against Tesseract 5 on real printed pages, scored against their text layer.

    .venv/bin/python bench/ocr.py                       # the 12 pages below, one table
    .venv/bin/python bench/ocr.py --pages 3 --save DIR  # fewer pages; keep each answer
    .venv/bin/python bench/ocr.py --memory-pages 100    # + local/ocr's RSS after 100 pages
    .venv/bin/python bench/ocr.py --env VISIONGATE_LOCAL_THREADS=2   # a variant

The pages are PDF manuals that Debian packages install under ``/usr/share/doc`` (typeset
by their authors, not rendered by us), rasterised by ``pdftoppm`` at 150 dpi, the
resolution of an ordinary office scan. Each page's reference text is ``pdftotext`` of the
same page. ``tesseract-ocr`` and ``poppler-utils`` (and a missing manual's package) are
installed with apt-get when absent.

Both engines read the same page one after the other (which one goes first alternates), so
whatever else the machine is doing falls on both alike. Tesseract runs as the ``tesseract``
command with ``OMP_THREAD_LIMIT=1``; its CPU time and peak RSS come from ``wait4``.
``local/ocr`` runs in a worker process through ``OcrEngine.complete`` (the server's code
path, minus HTTP), loaded and warmed on one page first; CPU seconds are that process's,
all threads. CPU seconds say more than wall time on a shared machine. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ocr_score import PageScore, score_page

ROOT = Path(__file__).resolve().parents[1]
DPI = 150

# (Debian package, PDF, page): prose, option lists, function references, code and hex
# dumps, in Letter and A4, from six typesetting set-ups. Fixed, so runs compare.
PAGES: list[tuple[str, str, int]] = [
    ("fontconfig", "/usr/share/doc/fontconfig/fontconfig-user.pdf.gz", 3),
    ("fontconfig", "/usr/share/doc/fontconfig/fontconfig-user.pdf.gz", 8),
    ("libtasn1-doc", "/usr/share/doc/libtasn1-doc/libtasn1.pdf", 10),
    ("libtasn1-doc", "/usr/share/doc/libtasn1-doc/libtasn1.pdf", 20),
    ("bzip2-doc", "/usr/share/doc/bzip2/manual.pdf.gz", 7),
    ("bzip2-doc", "/usr/share/doc/bzip2/manual.pdf.gz", 20),
    ("nettle-dev", "/usr/share/doc/nettle-dev/nettle.pdf.gz", 8),
    ("nettle-dev", "/usr/share/doc/nettle-dev/nettle.pdf.gz", 20),
    ("shared-mime-info", "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf", 5),
    ("shared-mime-info", "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf", 7),
    ("valgrind", "/usr/share/doc/valgrind/valgrind_manual.pdf.gz", 30),
    ("valgrind", "/usr/share/doc/valgrind/valgrind_manual.pdf.gz", 60),
]
TABLE_MARK = r" \| "  # local/ocr's cell separator: layout, not text


@dataclass
class Run:
    """One engine's results over the pages."""

    name: str
    scores: list[PageScore] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak_kb: int = 0
    notes: list[str] = field(default_factory=list)


def _apt_install(packages: list[str]) -> None:
    if not packages:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print(f"installing with apt-get: {' '.join(packages)}", file=sys.stderr)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", *packages], check=True)


def ensure_tools(pages: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Install what is missing; return the pages whose PDF is on the machine."""
    need = [
        pkg
        for tool, pkg in (("tesseract", "tesseract-ocr"), ("pdftoppm", "poppler-utils"))
        if shutil.which(tool) is None
    ]
    need += sorted({pkg for pkg, path, _ in pages if not Path(path).exists()})
    try:
        _apt_install(need)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"apt-get failed ({exc}); going on with what is here", file=sys.stderr)
    missing = [path for _pkg, path, _ in pages if not Path(path).exists()]
    for path in sorted(set(missing)):
        print(f"skipped (not on this machine): {path}", file=sys.stderr)
    return [p for p in pages if Path(p[1]).exists()]


def rasterise(pages: list[tuple[str, str, int]], tmp: Path) -> list[tuple[str, Path, str]]:
    """(label, PNG at 150 dpi, reference text) per page."""
    out = []
    for _pkg, path, page in pages:
        pdf = Path(path)
        if pdf.suffix == ".gz":
            plain = tmp / pdf.stem
            if not plain.exists():
                plain.write_bytes(gzip.decompress(pdf.read_bytes()))
            pdf = plain
        stem = tmp / f"{pdf.stem}-p{page}"
        pages_arg = ["-f", str(page), "-l", str(page)]
        subprocess.run(
            ["pdftoppm", *pages_arg, "-r", str(DPI), "-png", "-singlefile", str(pdf), str(stem)],
            check=True,
        )
        ref = subprocess.run(
            ["pdftotext", *pages_arg, str(pdf), "-"], check=True, capture_output=True, text=True
        ).stdout
        label = f"{Path(path).name.removesuffix('.gz')} p{page}"
        out.append((label, stem.with_suffix(".png"), ref))
    return out


def tesseract(png: Path) -> tuple[str, float, float, int]:
    """(text, wall s, CPU s, peak RSS kB) of one ``tesseract`` run on one thread."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["tesseract", str(png), "stdout", "-l", "eng"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    text = proc.stdout.read().decode()
    _pid, _status, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    wall = time.perf_counter() - started
    return text, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


class LocalWorker:
    """``local/ocr`` in its own process: one JSON line per page in, one out."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **env},
            text=True,
        )

    def ask(self, **command: object) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the local/ocr worker died")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _rss_kb() -> tuple[int, int]:
    """(current, peak) RSS of this process in kB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def worker() -> None:
    """The worker's loop (``--worker``): load the engine, then read pages on request."""
    sys.path.insert(0, str(ROOT / "src"))
    from visiongate.core.catalog import load_catalog
    from visiongate.core.messages import ChatRequest, ImagePart, Message
    from visiongate.local.ocr import OcrEngine
    from visiongate.settings import Settings

    settings = Settings()
    engine = OcrEngine(load_catalog().models["local/ocr"], settings)

    async def read(png: str) -> str:
        data = await asyncio.to_thread(Path(png).read_bytes)
        part = ImagePart(param="img", data=data, media_type="image/png")
        request = ChatRequest(model="local/ocr", messages=[Message("user", [part])])
        response = await engine.complete(request)
        return response.choices[0].content or ""

    loop = asyncio.new_event_loop()
    for line in sys.stdin:
        command = json.loads(line)
        started, cpu = time.perf_counter(), time.process_time()
        texts = [loop.run_until_complete(read(png)) for png in command["pages"]]
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        rss, peak = _rss_kb()
        print(json.dumps({"texts": texts, "wall": wall, "cpu": cpu, "rss": rss, "peak": peak}))
        sys.stdout.flush()


def _row(run: Run) -> list[str]:
    chars = sum(s.ref_chars for s in run.scores)
    edits = sum(s.edits for s in run.scores)
    words = sum(s.ref_words for s in run.scores)
    found = sum(s.words_found for s in run.scores)
    lines = sum(s.ref_lines for s in run.scores)
    lost = sum(s.lines_lost for s in run.scores)
    n = max(1, len(run.scores))
    return [
        f"{100 * edits / max(1, chars):.1f}%",
        f"{100 * found / max(1, words):.1f}%",
        f"{100 * lost / max(1, lines):.1f}% ({lost}/{lines})",
        f"{sum(run.wall) / n:.2f}",
        f"{sum(run.cpu) / n:.2f}",
        f"{run.peak_kb / 1024:.0f}",
    ]


def report(runs: list[Run], labels: list[str]) -> str:
    """The summary table, then CER per page."""
    names = ["character error rate", "words of 3+ letters found", "text lines lost"]
    names += ["seconds per page (wall)", "CPU seconds per page", "peak RSS, MB"]
    rows = [_row(run) for run in runs]
    out = ["| | " + " | ".join(run.name for run in runs) + " |"]
    out.append("| --- |" + " ---: |" * len(runs))
    for i, name in enumerate(names):
        out.append(f"| {name} | " + " | ".join(row[i] for row in rows) + " |")
    out += ["", "| page | " + " | ".join(f"{run.name} CER" for run in runs) + " |"]
    out.append("| --- |" + " ---: |" * len(runs))
    for i, label in enumerate(labels):
        cers = [100 * r.scores[i].edits / max(1, r.scores[i].ref_chars) for r in runs]
        out.append(f"| {label} | " + " | ".join(f"{c:.1f}%" for c in cers) + " |")
    for run in runs:
        out += [f"\n{run.name}: {note}" for note in run.notes]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pages", type=int, default=len(PAGES), help="the first N pages")
    parser.add_argument("--save", type=Path, help="write each answer and reference here")
    parser.add_argument("--env", action="append", default=[], help="K=V for local/ocr")
    parser.add_argument("--memory-pages", type=int, default=0, help="RSS after N more pages")
    parser.add_argument("--no-tesseract", action="store_true")
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    env = dict(item.split("=", 1) for item in args.env)
    pages = ensure_tools(PAGES[: args.pages])
    with tempfile.TemporaryDirectory(prefix="visiongate-ocr-") as tmp:
        work = rasterise(pages, Path(tmp))
        local, tess = Run("local/ocr"), Run("Tesseract 5, one thread")
        runs = [local] if args.no_tesseract else [local, tess]
        started = time.perf_counter()
        engine = LocalWorker(env)
        first = engine.ask(pages=[str(work[0][1])])
        local.notes.append(
            f"load + first page {first['wall']:.1f} s wall, RSS after {first['rss'] / 1024:.0f} MB"
        )
        for i, (label, png, ref) in enumerate(work):
            order = ["local", "tess"] if i % 2 == 0 else ["tess", "local"]
            for which in order:
                if which == "local":
                    answer = engine.ask(pages=[str(png)])
                    text = answer["texts"][0]
                    local.wall.append(answer["wall"])
                    local.cpu.append(answer["cpu"])
                    local.peak_kb = answer["peak"]
                    local.scores.append(score_page(ref, text, ignore=TABLE_MARK))
                elif not args.no_tesseract:
                    text, wall, cpu, peak = tesseract(png)
                    tess.wall.append(wall)
                    tess.cpu.append(cpu)
                    tess.peak_kb = max(tess.peak_kb, peak)
                    tess.scores.append(score_page(ref, text))
                else:
                    continue
                if args.save:
                    args.save.mkdir(parents=True, exist_ok=True)
                    slug = label.replace(" ", "-")
                    (args.save / f"{slug}.{which}.txt").write_text(text)
                    (args.save / f"{slug}.ref.txt").write_text(ref)
            print(f"{label}: done", file=sys.stderr)
        if args.memory_pages:
            pngs = [str(png) for _l, png, _r in work]
            batch = [pngs[i % len(pngs)] for i in range(args.memory_pages)]
            answer = engine.ask(pages=batch)
            local.notes.append(
                f"RSS after {args.memory_pages} more pages {answer['rss'] / 1024:.0f} MB "
                f"(peak {answer['peak'] / 1024:.0f} MB)"
            )
        engine.close()
    table = report(runs, [label for label, _p, _r in work])
    table += f"\n\n{len(work)} pages at {DPI} dpi, {time.perf_counter() - started:.0f} s in all"
    print(table)
    out = ROOT / "bench" / "results" / f"ocr-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
