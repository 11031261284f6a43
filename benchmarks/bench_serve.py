"""Serving many people at once: N headless-Chromium sessions against one dashboard, against one
session alone.

Starts `streamlit run app.py` on the real data on a free 127.0.0.1 port (or benchmarks a running
server given by `--url`, e.g. `scripts/serve.sh`'s nginx), warms it with one untimed visit, times
`--single` visits one after the other, then `--sessions` visits at once (`--rounds` times), and
prints p50/p95 of both and their ratio, the server's CPU seconds per visit (utime + stime from
/proc/<pid>/stat of the server processes, children included), the browsers' CPU, and errors.

Journeys (`--journey`):
  gallery  open a confusion cell by link (/errors?true=...&pred=...), click the first Inspect,
           wait until the inspector's Grad-CAM, Grad-CAM++ and XRAI overlays have loaded;
  upload   open Your face, upload scikit-image's astronaut photo, wait until the prediction and
           its Grad-CAM and XRAI images have loaded.

Every wait has a timeout (`--timeout` per visit) and every loop a bounded count; it talks only to
127.0.0.1. Run from the repository root:

    .venv/bin/python benchmarks/bench_serve.py --sessions 8 --journey gallery
    .venv/bin/python benchmarks/bench_serve.py --url http://127.0.0.1:8600 --pids "$(cat /tmp/x/pids)"
"""
from __future__ import annotations

import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from _common import ROOT, emit, parser

CHROMIUM = os.environ.get("FERVIZ_CHROMIUM") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
TICK = os.sysconf("SC_CLK_TCK")
MEDIA = "() => { const im = [...document.images].filter(i => i.src.includes('/media/'));" \
        " return im.length >= %d && im.every(i => i.complete && i.naturalWidth > 0); }"


# ------------------------------------------------------------------ processes and CPU

def cpu_seconds(pid: int, children: bool = True) -> float:
    """utime + stime (and the reaped children's) of a process, from /proc/<pid>/stat; 0 if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    f = text[text.rindex(")") + 2:].split()  # fields from 3 (state) on
    ticks = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if children else 0)
    return ticks / TICK


def descendants(root: int) -> list[int]:
    """All living descendants of a process (from /proc/*/stat parent ids)."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                text = (d / "stat").read_text()
            except OSError:
                continue
            parent[int(d.name)] = int(text[text.rindex(")") + 2:].split()[1])
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def tree_cpu(pids: list[int], exclude: set[int] = frozenset()) -> float:
    """CPU seconds of processes and all their living descendants (children's time included)."""
    seen = set()
    total = 0.0
    for p in pids:
        for q in [p, *descendants(p)]:
            if q not in seen and q not in exclude:
                seen.add(q)
                total += cpu_seconds(q)
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen | None, log: Path | None, limit: float = 180) -> None:
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise SystemExit("streamlit exited:\n" + (log.read_text()[-3000:] if log else ""))
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer /_stcore/health within {limit:.0f} s")


def start_server(data: str | None, models: str, extra_env: dict) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="ferviz-serve-")) / "streamlit.log"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "FERVIZ_MODELS": models, **extra_env}
    if data:
        env["FERVIZ_DATA"] = data
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc, log)
    return proc, url, log


# ------------------------------------------------------------------ journeys

async def _no_exception(page) -> None:
    if await page.locator('[data-testid="stException"]').count():
        raise RuntimeError("the page shows an exception")
    body = await page.inner_text("body")
    if "Traceback" in body:
        raise RuntimeError("the page shows a traceback")


async def gallery_journey(page, base: str, model: str, cell: tuple[str, str], stage: list) -> None:
    t, p = cell
    stage.append("open the cell")
    await page.goto(f"{base}/errors?model={model}&true={t}&pred={p}")
    await page.locator('[class*="st-key-err_tile_"]').first.wait_for()
    stage.append("click Inspect")
    await page.get_by_role("button", name="Inspect").first.click()
    await page.get_by_text("Explain the class").wait_for()
    stage.append("wait for the overlays")
    for caption in ("Grad-CAM", "Grad-CAM++", "XRAI"):
        await page.locator('[data-testid="stImageCaption"]',
                           has_text=re.compile(f"^{re.escape(caption)}$")).wait_for()
    stage.append("wait for the images to load")
    await page.wait_for_function(MEDIA % 4)  # the face and three overlays
    await _no_exception(page)


async def upload_journey(page, base: str, model: str, photo: str, stage: list) -> None:
    stage.append("open Your face")
    await page.goto(f"{base}/upload?model={model}")
    await page.get_by_text("Upload a photo with one or more faces.").wait_for()
    stage.append("upload")
    await page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(photo)
    await page.get_by_text("what the model sees (48x48 grayscale)").wait_for()
    stage.append("wait for the maps")
    for start in ("Grad-CAM for ", "XRAI for "):
        await page.locator('[data-testid="stImageCaption"]', has_text=re.compile(f"^{start}")).wait_for()
    await page.wait_for_function(MEDIA % 4)  # photo, crop, Grad-CAM, XRAI
    await _no_exception(page)


async def visit(browser, journey, timeout: float, *args) -> tuple[float | None, str | None]:
    """One session: a new browser context (its own Streamlit session); (seconds, error)."""
    ctx = await browser.new_context(viewport={"width": 1500, "height": 1100})
    stage: list[str] = []
    try:
        page = await ctx.new_page()
        page.set_default_timeout(timeout * 1000)
        t = time.perf_counter()
        await asyncio.wait_for(journey(page, *args, stage), timeout)
        return time.perf_counter() - t, None
    except Exception as e:  # counted, not raised: one failed session must not end the run
        where = stage[-1] if stage else "start"
        return None, f"{type(e).__name__} at '{where}': {str(e).splitlines()[0][:200] if str(e) else ''}"
    finally:
        await ctx.close()


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


async def run(args, base: str, model: str, server_pids: list[int], photo: str) -> dict:
    from playwright.async_api import async_playwright

    journey = gallery_journey if args.journey == "gallery" else upload_journey
    cells = [tuple(c.split(":")) for c in args.cells.split(",")]
    me = os.getpid()

    def jargs(i: int):
        return (base, model, cells[i % len(cells)]) if args.journey == "gallery" else (base, model, photo)

    def server_cpu() -> float | None:
        return tree_cpu(server_pids) if server_pids else None

    def client_cpu() -> float:
        return tree_cpu([me], exclude={me, *server_pids, *(q for p in server_pids for q in descendants(p))})

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        errors: list[str] = []
        # warm-up, untimed: one visit per cell (caches, TensorFlow graphs, the browser), then with
        # several server processes a round of `--warmup` visits at once (new cookies reach each
        # process: its own model copy, graphs and memory caches)
        for i in range(min(len(cells), args.sessions) if args.journey == "gallery" else 1):
            _, err = await visit(browser, journey, args.timeout, *jargs(i))
            if err:
                errors.append(f"warm-up: {err}")
        n_warm = args.warmup if args.warmup is not None else (4 * len(server_pids) if len(server_pids) > 1 else 0)
        if n_warm:
            res = await asyncio.gather(*[visit(browser, journey, args.timeout, *jargs(i)) for i in range(n_warm)])
            errors += [f"warm-up: {e}" for _, e in res if e]
        single, c0, s0 = [], client_cpu(), server_cpu()
        for i in range(args.single):
            sec, err = await visit(browser, journey, args.timeout, *jargs(i))
            single.append(sec) if sec is not None else errors.append(f"single: {err}")
        s1, c1 = server_cpu(), client_cpu()
        many, t_start = [], time.perf_counter()
        for r in range(args.rounds):
            res = await asyncio.gather(*[visit(browser, journey, args.timeout, *jargs(i))
                                         for i in range(args.sessions)])
            many += [s for s, _ in res if s is not None]
            errors += [f"concurrent: {e}" for _, e in res if e]
        wall = time.perf_counter() - t_start
        s2, c2 = server_cpu(), client_cpu()
        await browser.close()
    n_many = args.sessions * args.rounds
    one = statistics.median(single) if single else None
    out = {
        "journey": args.journey, "url": base, "sessions": args.sessions, "rounds": args.rounds,
        "server_processes": len(server_pids),
        "single_visits": len(single), "single_p50_s": one, "single_p95_s": pct(single, 0.95),
        "concurrent_visits": n_many, "concurrent_p50_s": pct(many, 0.5), "concurrent_p95_s": pct(many, 0.95),
        "concurrent_max_s": max(many) if many else None, "concurrent_wall_s": wall,
        "p50_ratio": pct(many, 0.5) / one if many and one else None,
        "p95_ratio": pct(many, 0.95) / one if many and one else None,
        "server_cpu_s_per_visit_single": (s1 - s0) / len(single) if s0 is not None and single else None,
        "server_cpu_s_per_visit_concurrent": (s2 - s1) / n_many if s1 is not None else None,
        "browser_cpu_s_per_visit_single": (c1 - c0) / len(single) if single else None,
        "browser_cpu_s_per_visit_concurrent": (c2 - c1) / n_many,
        "cpu_cores": os.cpu_count(),
        "errors": len(errors), "error_messages": errors[:10],
    }
    return out


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--sessions", type=int, default=8, help="sessions at once")
    p.add_argument("--rounds", type=int, default=1, help="how many times the N sessions run at once")
    p.add_argument("--single", type=int, default=3, help="visits of one session alone (the baseline)")
    p.add_argument("--journey", choices=("gallery", "upload"), default="gallery")
    p.add_argument("--cells", default="fear:sad", help="confusion cells true:pred, sessions take them in turn")
    p.add_argument("--timeout", type=float, default=300, help="seconds one visit may take")
    p.add_argument("--url", help="benchmark this running server instead of starting one")
    p.add_argument("--pids", default="", help="with --url: the server processes' ids (comma or space "
                                              "separated) whose CPU is read; without them no server CPU")
    p.add_argument("--warmup", type=int, help="untimed visits at once after the first one (default: 4 per "
                                              "server process when there are several, else none)")
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for the started server (repeatable)")
    args = p.parse_args()
    if args.sessions < 1 or args.rounds < 1 or args.single < 1:
        raise SystemExit("--sessions, --rounds and --single must be at least 1")
    from ferviz.models import load_card

    model = load_card(args.model).key
    proc = log = None
    if args.url:
        base = args.url.rstrip("/")
        host = urllib.parse.urlparse(base).hostname
        if host not in ("127.0.0.1", "localhost"):
            raise SystemExit("--url must be on 127.0.0.1 (this benchmark talks to the loopback only)")
        wait_healthy(base, None, None, 30)
        pids = [int(x) for x in re.split(r"[,\s]+", args.pids.strip()) if x]
    else:
        extra = dict(e.split("=", 1) for e in args.env)
        proc, base, log = start_server(args.data, str(Path(args.model).resolve().parent), extra)
        pids = [proc.pid]
    photo_dir = tempfile.mkdtemp(prefix="ferviz-bench-photo-")
    photo = str(Path(photo_dir) / "astronaut.jpg")
    from PIL import Image
    from skimage import data as skdata

    Image.fromarray(skdata.astronaut()).save(photo, quality=92)
    try:
        out = asyncio.run(run(args, base, model, pids, photo))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    if log is not None:
        text = log.read_text()
        tracebacks = text.count("Traceback")
        out["server_tracebacks"] = tracebacks
        out["errors"] += tracebacks
    out["model"] = model
    emit(out)


if __name__ == "__main__":
    main()
