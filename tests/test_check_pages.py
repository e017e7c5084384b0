"""Tests of scripts/check_pages.py, the browser check of the built book.

One small site holds one page per defect (and pages that must pass); it is checked once in
headless Chromium, and each test reads the defects of its page. The browser tests are skipped
without Debian's chromium and chromium-driver (``make browser`` installs them and runs this file).
"""

from __future__ import annotations

import importlib.util
import json
import struct
import sys
import zlib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_pages", ROOT / "scripts/check_pages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


check_pages = _load_checker()
_mathjax_spec = importlib.util.find_spec("sphinx-mathjax-offline")
MATHJAX = Path(_mathjax_spec.origin).parent / "static/mathjax" if _mathjax_spec else None
needs_browser = pytest.mark.skipif(
    not (Path(check_pages.CHROMIUM).is_file() and Path(check_pages.CHROMEDRIVER).is_file()),
    reason="needs Debian's chromium and chromium-driver (make browser installs them)",
)
needs_mathjax = pytest.mark.skipif(MATHJAX is None, reason="needs sphinx-mathjax-offline")


def png(width: int, height: int, rgb: tuple[int, int, int] = (40, 90, 160)) -> bytes:
    """A plain PNG image of one colour."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


MATHJAX_HEAD = (
    "<script>window.MathJax = "
    + json.dumps({"tex": {"macros": {"norm": ["\\left\\lVert #1 \\right\\rVert", 1]}}})
    + '</script><script defer src="_static/mathjax/tex-chtml.js"></script>'
)
STYLE = """<style>
body { margin: 0; font: 16px sans-serif; }
article.bd-article { width: 688px; margin: 0 auto; padding: 0 16px; }
@media (max-width: 720px) { article.bd-article { width: auto; } }
img { max-width: 100%; }
/* display math as pydata-sphinx-theme lays it out (equation number first, reversed) */
div.math { display: flex; flex-direction: row-reverse; max-width: 100%; overflow: hidden; }
div.math mjx-container { flex-grow: 1; overflow: auto; }
</style>"""
LONG_TEX = " + ".join(f"\\frac{{a_{{{i}}}}}{{b_{{{i}}}}}" for i in range(40)) + " \\tag{1}"
LONG_INLINE = " + ".join(f"x_{{{i}}}^2" for i in range(60))
WIDE_ROW = "".join(f"<td>column {i} with a long value</td>" for i in range(14))
WIDE_TABLE = f"<table><tr><th>a</th></tr><tr>{WIDE_ROW}</tr></table>"
CELL = '<div class="cell"><div class="cell_output">{}</div></div>'

PAGES = {
    "clean.html": (
        MATHJAX_HEAD
        + '<link rel="stylesheet" href="_static/gdlab.css">'
        + '<script defer src="_static/gdlab-math.js"></script>',
        r"<p>Inline \(\norm{w_t}\le 1\) and a display</p><div class='math'>\[x^2\]</div>"
        + f"<p>A long inline formula \\({LONG_INLINE}\\) scrolls in its own box.</p>"
        + CELL.format('<div class="output"><img src="small.png"></div>')
        + '<div class="gdlab-table-wrap"><table class="gdlab-table">'
        + f"<tr><th>a</th></tr><tr>{WIDE_ROW}</tr></table></div>"
        + '<table class="gdlab-settings"><tr><td><code>steps</code></td><td>100</td></tr></table>',
    ),
    "phone.html": (
        MATHJAX_HEAD + '<link rel="stylesheet" href="_static/gdlab.css">',
        f"<div class='math'>\\[{LONG_TEX}\\]</div>"
        + CELL.format('<div class="output"><img src="figure.png"></div>'),
    ),
    "tex.html": ("", r"<p>The risk $L_t$ falls.</p><p>Its norm \norm{w} grows.</p>"),
    "mathjax-error.html": (MATHJAX_HEAD, r"<p>\(\frac{1}\)</p><p>\(\undefinedmacro x\)</p>"),
    "duplicate.html": (
        "",
        CELL.format('<img src="small.png"><img src="copy.png">')
        + CELL.format('<img src="small.png"><img src="figure.png">'),
    ),
    "network.html": (
        '<script>window.MathJax = {}</script><script defer src="'
        'https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>',
        r"<p>Math \(x\) from a CDN.</p>",
    ),
    "broken.html": ("", '<img src="missing.png">'),
    "contents.html": (
        "",
        '<nav class="bd-toc"><a href="#part-1">Part I: cai2024large</a>'
        '<a href="#part-2">Part II</a></nav>'
        '<section id="part-1"><h2>Part I: Cai et al. (2024)<a class="headerlink">#</a></h2>'
        '</section><section id="part-2"><h2>Part II<a class="headerlink">#</a></h2></section>',
    ),
    "wide-image.html": ("", CELL.format('<img src="wide.png">')),
    "wide-table.html": (
        "",
        WIDE_TABLE + f"<div style='overflow-x: auto'>{WIDE_TABLE.replace('<th>a', '<th>b')}</div>",
    ),
    "clipped.html": (MATHJAX_HEAD, f"<div class='math'>\\[{LONG_TEX}\\]</div>"),
    "inline.html": (MATHJAX_HEAD, f"<p>Too long: \\({LONG_INLINE}\\) for one line.</p>"),
    "overlap.html": (
        "",
        '<table style="table-layout: fixed; width: 300px"><tr>'
        '<td style="width: 60px; white-space: nowrap">✗ contradicts the paper</td>'
        "<td>the claim</td></tr></table>",
    ),
    "left.html": (
        MATHJAX_HEAD + "<style>div.math { overflow-x: auto; }</style>",
        f"<div class='math'>\\[{LONG_TEX}\\]</div>",
    ),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small built site: the pages above, their images, MathJax and the book's CSS."""
    root = tmp_path_factory.mktemp("site")
    for name, (head, body) in PAGES.items():
        html = (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'>{STYLE}{head}</head><body><main>"
            f"<article class='bd-article'><section><h1>{name}</h1>{body}</section></article>"
            "</main></body></html>"
        )
        (root / name).write_text(html, encoding="utf-8")
    (root / "small.png").write_bytes(png(200, 100))
    (root / "copy.png").write_bytes(png(200, 100))
    (root / "figure.png").write_bytes(png(600, 300, (160, 60, 40)))
    (root / "wide.png").write_bytes(png(1400, 300))
    static = root / "_static"
    static.mkdir()
    for name in ("gdlab.css", "gdlab-math.js"):
        (static / name).write_text((ROOT / "book/_static" / name).read_text())
    if MATHJAX is not None:
        (static / "mathjax").symlink_to(MATHJAX, target_is_directory=True)
    (root / "search.html").write_text("<html></html>")
    (root / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=clean.html" />')
    return root


@pytest.fixture(scope="module")
def report(site: Path) -> dict[str, list[str]]:
    """Each page's defects as ``"kind @widths: what"`` lines, from one run of the checker."""
    defects = check_pages.check_site(site, site / "_shots")
    by_page: dict[str, list[str]] = {name: [] for name in PAGES}
    for d in defects:
        by_page[d.page].append(f"{d.kind} @{','.join(map(str, d.widths))}: {d.what}")
    return by_page


def kinds(lines: list[str]) -> list[str]:
    return sorted(line.split(" @")[0] for line in lines)


def test_pages_of_a_build(site: Path) -> None:
    pages = [p.as_posix() for p in check_pages.list_pages(site)]
    assert pages == sorted(PAGES)  # no search page, no redirect, nothing under _static


def test_local_addresses() -> None:
    assert check_pages.is_local("http://127.0.0.1:8000/a.html")
    assert check_pages.is_local("http://[::1]/a.js")
    assert check_pages.is_local("data:image/png;base64,AAAA")
    assert not check_pages.is_local("https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js")
    assert not check_pages.is_local("http://10.0.0.1/x.png")


@needs_browser
@needs_mathjax
def test_clean_pages_pass_and_are_screenshotted(site: Path, report: dict[str, list[str]]) -> None:
    assert report["clean.html"] == []
    assert report["phone.html"] == []  # the book's CSS scrolls the equation and the figure
    for width in (1280, 390):
        shot = site / "_shots" / f"clean@{width}.png"
        assert shot.read_bytes().startswith(b"\x89PNG")


@needs_browser
def test_tex_in_visible_text(report: dict[str, list[str]]) -> None:
    assert kinds(report["tex.html"]) == ["tex", "tex"]
    assert any("$L_t$" in line for line in report["tex.html"])
    assert any("\\norm{w}" in line for line in report["tex.html"])


@needs_browser
@needs_mathjax
def test_mathjax_errors(report: dict[str, list[str]]) -> None:
    lines = report["mathjax-error.html"]
    assert kinds(lines) == ["mathjax", "mathjax"]
    assert any("Missing argument for \\frac in \\frac{1}" in line for line in lines)
    assert any("undefined control sequence \\undefinedmacro" in line for line in lines)


@needs_browser
def test_same_image_twice_in_one_cell(report: dict[str, list[str]]) -> None:
    assert kinds(report["duplicate.html"]) == ["duplicate"]  # same bytes, other file name
    assert "shown 2 times" in report["duplicate.html"][0]


@needs_browser
def test_network_request_and_mathjax_from_a_cdn(report: dict[str, list[str]]) -> None:
    lines = report["network.html"]
    assert kinds(lines) == ["mathjax", "network", "tex"]  # the reader sees \\(x\\)
    assert any("cdn.jsdelivr.net" in line for line in lines)


@needs_browser
def test_broken_local_request(report: dict[str, list[str]]) -> None:
    assert kinds(report["broken.html"]) == ["broken"]
    assert "missing.png answered 404" in report["broken.html"][0]


@needs_browser
def test_contents_entry_differs_from_its_heading(report: dict[str, list[str]]) -> None:
    assert report["contents.html"] == [
        'contents @1280: contents panel shows "Part I: cai2024large" '
        'for the heading "Part I: Cai et al. (2024)"'
    ]


@needs_browser
def test_image_drawn_wider_than_the_column(report: dict[str, list[str]]) -> None:
    (line,) = report["wide-image.html"]
    assert line.startswith("wide @1280: image wide.png in section")
    assert line.endswith("drawn 1400 px wide in a 688 px column (shown at 49%)")


@needs_browser
def test_wide_table_unless_it_scrolls(report: dict[str, list[str]]) -> None:
    lines = report["wide-table.html"]
    assert [line for line in lines if "table (b)" in line] == []  # it scrolls in its box
    assert "wide @1280: table (a)" in lines[0] and "not in a scrolling box" in lines[0]
    assert "wide @390: table (a)" in lines[1] and "page 899 px wide in a 390 px window" in lines[2]


@needs_browser
@needs_mathjax
def test_clipped_equation(report: dict[str, list[str]]) -> None:
    lines = report["clipped.html"]
    assert kinds(lines) == ["wide", "wide"]  # at both widths
    assert lines[0].startswith("wide @1280: equation \\frac{a_{0}}")
    assert "cut off or out of the column" in lines[1]


@needs_browser
@needs_mathjax
def test_equation_overflowing_its_scroll_box_on_the_left(report: dict[str, list[str]]) -> None:
    lines = report["left.html"]  # a reversed flex row overflows where it cannot be scrolled to
    assert kinds(lines) == ["wide", "wide"]
    assert all("cut off on the left" in line for line in lines)


@needs_browser
@needs_mathjax
def test_inline_formula_wider_than_its_line(report: dict[str, list[str]]) -> None:
    lines = report["inline.html"]  # the clean page shows the same formula in its own scroll box
    formula = [line for line in lines if "inline formula x_{0}^2" in line]
    assert [line.split(":")[0] for line in formula] == ["wide @1280", "wide @390"]
    assert all("cut off or out of the column" in line for line in formula)
    assert len(lines) == 4 and all("page " in line for line in set(lines) - set(formula))


@needs_browser
def test_text_running_past_its_table_cell(report: dict[str, list[str]]) -> None:
    (line,) = report["overlap.html"]
    assert line.startswith('wide @1280,390: text "✗ contradicts the paper" runs ')
    assert "past its cell in table" in line
