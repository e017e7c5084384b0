"""Render every page of the built book in headless Chromium and report what a reader would see.

Usage: ``python scripts/check_pages.py [_build/html] [--out _build/screenshots]``

Every page of the build (search, genindex and redirect pages aside) is served from a local
``http.server`` on 127.0.0.1 and loaded once in Debian's Chromium (through chromedriver) with every
non-local address routed to a closed proxy port, so the check runs offline. After MathJax has
typeset the page it is checked at 1280 px, then resized to 390 px (phone) and checked again; a
full-page PNG screenshot of each width goes to ``--out``. One line per defect,
``page @width: kind: what``, then a count per kind; the exit status is 1 when there is a defect.

Defects:

- ``network``: a request to a non-local address (from Chromium's performance log).
- ``broken``: a local request that failed or answered 400 or more.
- ``mathjax``: math on the page but MathJax did not load, a MathJax error (``merror``), or an
  undefined control sequence (rendered red by MathJax).
- ``tex``: ``$`` or TeX (``\\name``, ``\\(``, ``\\[``) in visible text outside code.
- ``contents``: an entry of the page's contents panel that differs from the heading it links to
  (a BibTeX key where the heading shows the citation).
- ``duplicate``: the same image (same bytes) twice in one cell's output.
- ``wide``: at desktop width, an image shown or drawn wider than the content column, or a table
  wider than the column outside a horizontally scrolling box; at any width, an image, table,
  display equation or inline formula that sticks out of the column (or is clipped) outside a
  scrolling box or overflows its scrolling box on the left (where it cannot scroll), text that
  runs past its table cell (over the next one), or a page wider than the window.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import hashlib
import http.server
import ipaddress
import json
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DESKTOP, PHONE = 1280, 390
VIEWPORT_HEIGHT = 900
SKIPPED_PAGES = {"search.html", "genindex.html", "py-modindex.html"}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}

# Waits for the page, its deferred scripts, MathJax's first typeset and the web fonts.
WAIT_JS = """
const done = arguments[arguments.length - 1];
const settle = (status) => document.fonts.ready.then(() => done(status));
const poll = () => {
  if (document.readyState !== 'complete') return setTimeout(poll, 25);
  const usesMathJax = [...document.scripts].some((s) => /mathjax/i.test(s.src));
  if (!usesMathJax) return settle('not loaded by the page');
  const mj = window.MathJax;
  if (!mj || !mj.startup || !mj.startup.promise) return settle('did not load');
  mj.startup.promise.then(() => settle('ok'), (e) => settle('failed: ' + e));
};
poll();
"""

# Helpers of both checks: the TeX of each typeset formula, readable text, where an element is.
COMMON_JS = r"""
const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const short = (s, n = 60) => { const a = Array.from(s.replace(/\s+/g, ' ').trim());
  return (a.length > n ? a.slice(0, n - 1).join('') + '…' : a.join('')).replace(LONE, ''); };
const mj = window.MathJax;
const typeset = mj && mj.startup && mj.startup.document ? [...mj.startup.document.math] : [];
const texOf = new Map(typeset.map((item) => [item.typesetRoot, item.math]));
// The text of an element as a reader sees it, typeset math as ⟦its TeX⟧.
const textOf = (el) => {
  if (el.nodeType === Node.TEXT_NODE) return el.nodeValue;
  if (el.nodeType !== Node.ELEMENT_NODE) return '';
  if (el.matches('.headerlink, script, style, mjx-assistive-mml')) return '';
  if (el.tagName === 'MJX-CONTAINER') return '⟦' + (texOf.get(el) || '') + '⟧';
  return [...el.childNodes].map(textOf).join('');
};
const heading = (el) => {
  const up = (s) => s.parentElement && s.parentElement.closest('section');
  for (let s = el.closest('section'); s; s = up(s)) {
    const h = s.querySelector(':scope > h1, :scope > h2, :scope > h3, :scope > h4, :scope > h5');
    if (h) return h;
  }
  return null;
};
const where = (el) => {
  if (el.closest('.bd-sidebar-secondary, .bd-toc')) return 'contents panel';
  if (el.closest('.bd-sidebar-primary, .bd-header, nav')) return 'navigation';
  const h = heading(el);
  return h ? 'section "' + short(textOf(h), 45) + '"' : 'page';
};
const visible = (el) => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden';
"""

# Content defects: MathJax errors, TeX in visible text, contents entries, cell output images.
CONTENT_JS = r"""
const mathErrors = [];
for (const item of typeset) {
  const mml = mj.startup.toMML(item.root);
  const err = mml.match(/<merror[^>]*data-mjx-error="([^"]*)"/);
  const undef = mml.match(/<mtext[^>]*mathcolor="red"[^>]*>(\\[^<]*)</);
  const at = ' in ' + short(item.math, 70) + ' (' + where(item.typesetRoot) + ')';
  if (err || /<merror/.test(mml)) mathErrors.push((err ? err[1] : 'error') + at);
  else if (undef) mathErrors.push('undefined control sequence ' + undef[1] + at);
}
const SKIP = 'code, pre, script, style, textarea, noscript, kbd, samp, svg, math, ' +
  'mjx-container, .cell_input, .highlight';
const TEX = /\$|\\[A-Za-z]+|\\[()\[\]]/;
const tex = [], blocks = new Set();
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const node = walker.currentNode, el = node.parentElement;
  if (!el || !TEX.test(node.nodeValue) || el.closest(SKIP) || !visible(el)) continue;
  const block = el.closest('p, li, td, th, dt, dd, h1, h2, h3, h4, h5, h6, caption, a, div') || el;
  if (blocks.has(block)) continue;  // one line per paragraph, cell or heading
  blocks.add(block);
  const text = textOf(block).replace(/\s+/g, ' ');
  const hit = node.nodeValue.match(TEX)[0];
  const at = Math.max(0, text.indexOf(hit) - 30);
  tex.push(where(el) + ': "' + short(text.slice(at), 90) + '"');
}
const contents = [];
const panel = '.bd-toc a[href^="#"], .bd-sidebar-secondary a[href^="#"]';
for (const a of document.querySelectorAll(panel)) {
  const target = document.getElementById(decodeURIComponent(a.getAttribute('href').slice(1)));
  const h = target && (target.matches('h1, h2, h3, h4, h5, h6') ? target :
    target.querySelector(':scope > h1, :scope > h2, :scope > h3, :scope > h4, :scope > h5'));
  if (!h) continue;
  const entry = short(textOf(a), 80), title = short(textOf(h), 80);
  if (entry !== title) contents.push('"' + entry + '" for the heading "' + title + '"');
}
const cells = [...document.querySelectorAll('.cell_output')].map((out) => ({
  where: where(out),
  images: [...out.querySelectorAll('img')].map((img) => img.currentSrc || img.src),
}));
return {mathErrors, tex: [...new Set(tex)], contents: [...new Set(contents)], cells,
        mathElements: document.querySelectorAll('.math, mjx-container').length};
"""

# Layout defects at the current width (arguments[0]: true at desktop width).
LAYOUT_JS = r"""
const desktop = arguments[0];
const px = (x) => Math.round(x) + ' px';
const article = document.querySelector('article.bd-article') ||
  document.querySelector('main') || document.body;
const cs = getComputedStyle(article), ar = article.getBoundingClientRect();
const left = ar.left + parseFloat(cs.paddingLeft), right = ar.right - parseFloat(cs.paddingRight);
const column = right - left, inColumn = ' in a ' + px(column) + ' column';
const fits = (r) => r.left >= left - 1 && r.right <= right + 1;
// The element or an ancestor in the column that scrolls sideways: what overflows it can be seen.
const scrollBox = (el) => {
  for (let a = el; a && a !== article; a = a.parentElement) {
    const scrolls = ['auto', 'scroll'].includes(getComputedStyle(a).overflowX);
    if (scrolls && fits(a.getBoundingClientRect())) return a;
  }
  return null;
};
const label = (el) => {
  const h = heading(el), at = h ? ' in section "' + short(textOf(h), 40) + '"' : '';
  if (el.tagName === 'IMG') {
    return 'image ' + decodeURI(new URL(el.src).pathname).split('/').pop() + at;
  }
  if (el.tagName === 'TABLE') {
    const head = [...el.querySelectorAll('th')].slice(0, 4).map((th) => th.textContent.trim());
    return 'table (' + short(head.join(', ') || el.innerText, 40) + ')' + at;
  }
  const kind = el.getAttribute('display') === 'true' ? 'equation ' : 'inline formula ';
  return kind + short(texOf.get(el) || '', 50) + at;
};
const items = [];
for (const el of article.querySelectorAll('img, table, mjx-container')) {
  if (!visible(el) || el.closest('.cell_input')) continue;
  const r = el.getBoundingClientRect();
  const first = el.tagName === 'MJX-CONTAINER' && el.firstElementChild;
  const inner = first ? first.getBoundingClientRect() : r;
  const box = scrollBox(el);
  if (desktop && el.tagName === 'IMG') {
    const drawn = parseFloat(el.getAttribute('width')) || el.naturalWidth;
    if (Math.max(r.width, drawn) > column + 1) {
      const shown = ' (shown at ' + Math.round((100 * r.width) / drawn) + '%)';
      items.push(label(el) + ' drawn ' + px(drawn) + ' wide' + inColumn + shown);
      continue;
    }
  }
  if (desktop && el.tagName === 'TABLE' && r.width > column + 1 && !box) {
    items.push(label(el) + ' ' + px(r.width) + ' wide' + inColumn + ', not in a scrolling box');
    continue;
  }
  if ((!fits(inner) || inner.width > r.width + 1) && !box) {
    items.push(label(el) + ' ' + px(inner.width) + ' wide' + inColumn +
      ', cut off or out of the column (no scrolling box)');
  } else if (box && inner.left < box.getBoundingClientRect().left - 1) {
    items.push(label(el) + ' ' + px(inner.width) + ' wide' + inColumn +
      ', cut off on the left (its box scrolls only to the right)');
  }
}
// Text that runs past its table cell into the next one (a cell narrower than its content).
for (const cell of article.querySelectorAll('td, th')) {
  if (!visible(cell) || getComputedStyle(cell).overflowX !== 'visible') continue;
  if (cell.scrollWidth > cell.clientWidth + 1) {
    const table = cell.closest('table');
    items.push('text "' + short(textOf(cell), 40) + '" runs ' + px(cell.scrollWidth -
      cell.clientWidth) + ' past its cell in ' + label(table));
  }
}
const page = document.documentElement.scrollWidth, win = window.innerWidth;
if (page > win + 1) items.push('page ' + px(page) + ' wide in a ' + px(win) + ' window');
return {items, height: Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)};
"""


@dataclass(frozen=True)
class Defect:
    """One thing a reader would see wrong on one page at one or more widths."""

    page: str
    widths: tuple[int, ...]
    kind: str
    what: str

    def __str__(self) -> str:
        at = ",".join(str(w) for w in self.widths)
        return f"{self.page} @{at}: {self.kind}: {self.what}"


def list_pages(root: Path) -> list[Path]:
    """The HTML pages of a build, relative to ``root``: no ``_static``-like folders, search,
    index or redirect pages."""
    pages = []
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root)
        if rel.name in SKIPPED_PAGES or any(part.startswith("_") for part in rel.parts[:-1]):
            continue
        if re.search(r'http-equiv="?refresh', path.read_text(encoding="utf-8")[:2000], re.I):
            continue
        pages.append(rel)
    return pages


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 at a free port; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def browser(chromium: str, chromedriver: str) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a fresh profile, every non-local request sent to a closed port."""
    with tempfile.TemporaryDirectory(prefix="check-pages-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "--force-device-scale-factor=1",
            f"--window-size={DESKTOP},{VIEWPORT_HEIGHT}",
            f"--user-data-dir={profile}",
            # loopback bypasses the proxy; every other address fails at once instead of hanging
            "--proxy-server=http://127.0.0.1:9",
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
        try:
            driver.set_script_timeout(60)
            driver.execute_cdp_cmd("Network.enable", {})
            yield driver
        finally:
            driver.quit()


def set_width(driver: webdriver.Chrome, width: int) -> None:
    """Resize the window to ``width`` CSS pixels (scrollbar included) and let the page reflow."""
    driver.set_window_size(width, VIEWPORT_HEIGHT)
    driver.execute_async_script(
        "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));"
    )


def screenshot(driver: webdriver.Chrome, path: Path, width: int, height: int) -> None:
    """A PNG of the whole page, ``width`` by ``height`` CSS pixels: the window is made taller than
    the page for the shot (a capture beyond the viewport lays the theme out differently)."""
    driver.set_window_size(width, height + VIEWPORT_HEIGHT)
    clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "clip": clip, "optimizeForSpeed": True}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    set_width(driver, width)


def is_local(url: str) -> bool:
    """Whether a request stays on this machine (loopback, files, data and the browser itself)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https", "ws", "wss", "ftp"}:
        return True
    host = parts.hostname or ""
    if host in LOCAL_HOSTS:
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


def network_defects(log: Sequence[dict[str, object]]) -> tuple[list[str], list[str]]:
    """Non-local requests and failed local requests in a performance log."""
    urls: dict[str, str] = {}
    external: list[str] = []
    broken: list[str] = []
    for entry in log:
        message = json.loads(str(entry["message"]))["message"]
        method, params = message["method"], message.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            if not is_local(url) and url not in external:
                external.append(url)
        elif method == "Network.responseReceived":
            url, status = params["response"]["url"], params["response"]["status"]
            browser_own = urlsplit(url).path == "/favicon.ico"
            if is_local(url) and url.startswith("http") and status >= 400 and not browser_own:
                broken.append(f"{url} answered {status}")
        elif method == "Network.loadingFailed":
            url = urls.get(params["requestId"], "")
            if url and is_local(url) and url.startswith("http") and not params.get("canceled"):
                broken.append(f"{url} failed: {params.get('errorText', '')}")
    return external, broken


def image_key(url: str, base: str, root: Path) -> str:
    """What identifies an image's content: the hash of its file (or of its data URL)."""
    if url.startswith(base):
        path = root / unquote(urlsplit(url).path).lstrip("/")
        if path.is_file():
            return hashlib.sha256(path.read_bytes()).hexdigest()
    return hashlib.sha256(url.encode()).hexdigest()


def check_page(
    driver: webdriver.Chrome, base: str, root: Path, page: Path, out: Path, widths: Sequence[int]
) -> list[Defect]:
    """Load one page, check its content once and its layout at every width."""
    name = page.as_posix()
    found: dict[tuple[str, str], list[int]] = {}

    def add(kind: str, what: str, width: int) -> None:
        found.setdefault((kind, what), [])
        if width not in found[(kind, what)]:
            found[(kind, what)].append(width)

    driver.get("about:blank")
    driver.get_log("performance")
    set_width(driver, widths[0])
    driver.get(base + name)
    try:
        status = driver.execute_async_script(WAIT_JS)
    except TimeoutException:
        status = "timed out"
    content = driver.execute_script(COMMON_JS + CONTENT_JS)
    if status != "ok" and (status != "not loaded by the page" or content["mathElements"]):
        add("mathjax", f"MathJax {status}", widths[0])
    for error in content["mathErrors"]:
        add("mathjax", error, widths[0])
    for text in content["tex"]:
        add("tex", text, widths[0])
    for entry in content["contents"]:
        add("contents", f"contents panel shows {entry}", widths[0])
    for cell in content["cells"]:
        keys = Counter(image_key(url, base, root) for url in cell["images"])
        for key, count in keys.items():
            if count > 1:
                url = next(u for u in cell["images"] if image_key(u, base, root) == key)
                shown = unquote(urlsplit(url).path).rsplit("/", 1)[-1] or url[:40]
                add(
                    "duplicate",
                    f"image {shown} shown {count} times in one cell output ({cell['where']})",
                    widths[0],
                )
    for i, width in enumerate(widths):
        if i:
            set_width(driver, width)
        layout = driver.execute_script(
            COMMON_JS + LAYOUT_JS, width == max(widths) and width >= DESKTOP
        )
        for item in layout["items"]:
            add("wide", item, width)
        stem = name.removesuffix(".html").replace("/", "__")
        screenshot(driver, out / f"{stem}@{width}.png", width, layout["height"])
    external, broken = network_defects(driver.get_log("performance"))
    for url in external:
        add("network", f"request to {url}", widths[0])
    for what in broken:
        add("broken", what, widths[0])
    return [Defect(name, tuple(ws), kind, what) for (kind, what), ws in found.items()]


def check_site(
    root: Path,
    out: Path,
    widths: Sequence[int] = (DESKTOP, PHONE),
    chromium: str = CHROMIUM,
    chromedriver: str = CHROMEDRIVER,
) -> list[Defect]:
    """Every defect of every page of the build at ``root``; screenshots written to ``out``."""
    pages = list_pages(root)
    if not pages:
        raise SystemExit(f"no HTML pages under {root}")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    defects: list[Defect] = []
    with serve(root) as base, browser(chromium, chromedriver) as driver:
        for page in pages:
            defects += check_page(driver, base, root, page, out, widths)
    return defects


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", nargs="?", default="_build/html", type=Path)
    parser.add_argument("--out", default="_build/screenshots", type=Path)
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--chromedriver", default=CHROMEDRIVER)
    args = parser.parse_args(argv)
    for exe in (args.chromium, args.chromedriver):
        if not Path(exe).is_file():
            raise SystemExit(f"{exe} not found: install chromium and chromium-driver")
    start = time.monotonic()
    defects = check_site(
        args.html, args.out, chromium=args.chromium, chromedriver=args.chromedriver
    )
    for defect in defects:
        print(defect)
    pages = len(list_pages(args.html))
    counts = ", ".join(f"{n} {kind}" for kind, n in Counter(d.kind for d in defects).items())
    print(
        f"{pages} pages at {DESKTOP} and {PHONE} px in {time.monotonic() - start:.0f} s: "
        f"{len(defects)} defects{': ' + counts if counts else ''}; screenshots in {args.out}"
    )
    return 1 if defects else 0


if __name__ == "__main__":
    sys.exit(main())
