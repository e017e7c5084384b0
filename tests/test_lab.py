"""Re-executing the book: ``make lab`` serves a chapter as a notebook (jupytext) that runs in
its kernel; changed chapter settings recompute the claims, shown when lenient and raised when
strict; the built pages offer their executed notebooks (``book/_ext/gdlab_downloads.py``).

The server is started by ``make lab`` itself on a free loopback port with a random token, no
browser and a temporary runtime folder and result cache; it is always stopped (its process
group is terminated, then killed).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import pytest

from gdlab.claims import ClaimFailure, ClaimWarning
from gdlab.experiments.cache import ResultCache
from gdlab.studies import load, settings

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "book/intro.md"
#: Seconds for the server to start, and for each test that runs the chapter in its kernel.
START_LIMIT = 60.0
RUN_LIMIT = 90.0
#: Intro stepsizes too small to oscillate: its claims about the large stepsize fail.
NO_OSCILLATION = [10.0, 20.0]

needs_lab = pytest.mark.skipif(
    importlib.util.find_spec("jupyterlab") is None,
    reason="JupyterLab is not installed (pip install -e '.[lab]')",
)


@dataclass
class Lab:
    """A running ``make lab`` server: its base URL and token."""

    url: str
    token: str

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the server's REST API; the decoded JSON reply (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as reply:
            text = reply.read()
        return json.loads(text) if text else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie left to a non-reaping init does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _server_pids(runtime: Path) -> list[int]:
    """The pids of the Jupyter servers that wrote their info file to ``runtime``."""
    return [json.loads(f.read_text())["pid"] for f in runtime.glob("jpserver-*.json")]


def _stop(proc: subprocess.Popen[bytes], servers: list[int]) -> None:
    """Terminate ``make lab``'s process group and wait for its server to shut its kernels down
    and exit (20 s at most); then kill whatever is left of the group."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
        proc.poll() is None or any(_alive(pid) for pid in servers)
    ):
        time.sleep(0.2)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """``make lab`` on a free loopback port (the .venv is used as it is, not reinstalled)."""
    tmp = tmp_path_factory.mktemp("lab")
    port, token = _free_port(), secrets.token_hex(16)
    opts = (
        f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 "
        f"--IdentityProvider.token={token}"
    )
    if os.geteuid() == 0:
        opts += " --allow-root"
    runtime = tmp / "runtime"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime), GDLAB_CACHE=str(tmp / "cache"))
    log = tmp / "lab.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "-s", "-o", ".venv/.gdlab-installed", "lab", f"LAB_OPTS={opts}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    server = Lab(f"http://127.0.0.1:{port}", token)
    try:
        deadline = time.monotonic() + START_LIMIT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"make lab exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                server.request("GET", "/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail(f"make lab not serving after {START_LIMIT:.0f} s")
                time.sleep(0.5)
        yield server
    finally:
        _stop(proc, _server_pids(runtime))


def _open_chapter(lab: Lab) -> nbformat.NotebookNode:
    """The chapter as the contents API serves it to JupyterLab: a valid notebook."""
    model = lab.request("GET", f"/api/contents/{CHAPTER}?type=notebook&content=1")
    assert model["type"] == "notebook" and model["format"] == "json"
    nb = nbformat.from_dict(model["content"])
    nbformat.validate(nb)
    assert nb.metadata.jupytext.text_representation.format_name == "myst"
    assert any(cell.cell_type == "code" for cell in nb.cells)
    return nb


class Kernel:
    """A kernel started by the server for the chapter (as JupyterLab does: a session),
    driven over the server's websocket."""

    def __init__(self, lab: Lab, deadline: float) -> None:
        import websocket  # a dependency of jupyter_server

        kernel = {"name": "python3"}
        body = {"path": CHAPTER, "type": "notebook", "name": "", "kernel": kernel}
        self.lab, self.deadline = lab, deadline
        self.session = lab.request("POST", "/api/sessions", body)
        self.client_id = uuid.uuid4().hex
        url = lab.url.replace("http", "ws", 1)
        url += f"/api/kernels/{self.session['kernel']['id']}/channels?session_id={self.client_id}"
        self.ws = websocket.create_connection(
            url, header=[f"Authorization: token {lab.token}"], timeout=30
        )

    def close(self) -> None:
        """Close the websocket and shut the kernel down."""
        self.ws.close()
        self.lab.request("DELETE", f"/api/sessions/{self.session['id']}")

    def execute(self, code: str) -> list[nbformat.NotebookNode]:
        """Run ``code`` in the kernel; its outputs as notebook outputs."""
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "test",
            "session": self.client_id,
            "date": datetime.now(UTC).isoformat(),
            "version": "5.3",
        }
        content = {"code": code, "silent": False, "store_history": True, "allow_stdin": False}
        request = {"header": header, "parent_header": {}, "metadata": {}, "content": content}
        self.ws.send(json.dumps({**request, "channel": "shell", "buffers": []}))
        outputs, idle, replied = [], False, False
        while not (idle and replied):
            left = self.deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"kernel still running after {RUN_LIMIT:.0f} s: {code[:80]!r}")
            self.ws.settimeout(left)
            frame = self.ws.recv()
            if isinstance(frame, bytes):
                continue
            msg = json.loads(frame)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind in ("stream", "display_data", "execute_result", "error"):
                outputs.append(nbformat.v4.output_from_msg(msg))
            idle |= kind == "status" and msg["content"]["execution_state"] == "idle"
            replied |= kind == "execute_reply"
        return outputs

    def run(self, nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
        """Execute every code cell of ``nb`` in order, storing the outputs; return ``nb``."""
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = self.execute(cell.source)
        return nb


def _errors(nb: nbformat.NotebookNode) -> list[str]:
    return [
        f"{out.ename}: {out.evalue}"
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]


def _html(nb: nbformat.NotebookNode) -> str:
    return "".join(
        out.get("data", {}).get("text/html", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )


def _settings_cell(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, str] | None:
    """The chapter's settings cell (``config = settings("intro")``) and its variable, if any."""
    for cell in nb.cells:
        found = re.search(r"^(\w+)\s*=\s*settings\(\s*[\"']intro[\"']", cell.source, re.M)
        if cell.cell_type == "code" and found:
            return cell, found[1]
    return None


@needs_lab
def test_lab_opens_markdown_as_notebooks_by_default(lab: Lab) -> None:
    """JupyterLab's default viewer for Markdown (the chapters) is jupytext's notebook."""
    plugin = lab.request("GET", "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    viewers = plugin["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers["markdown"] == "Jupytext Notebook"


@needs_lab
def test_chapter_served_as_notebook_runs_in_the_venv_kernel(lab: Lab) -> None:
    """The intro, opened through the contents API, runs cell by cell in a kernel of the
    server: no errors, a figure, the claims table; the kernel is the .venv's, not strict."""
    nb = _open_chapter(lab)
    kernel = Kernel(lab, time.monotonic() + RUN_LIMIT)
    try:
        kernel.run(nb)
        (probe,) = kernel.execute("import os, sys; print(sys.prefix, os.environ['GDLAB_STRICT'])")
    finally:
        kernel.close()
    assert not _errors(nb)
    nbformat.validate(nb)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert any("image/png" in out.get("data", {}) for out in outputs)
    html = _html(nb)
    assert "gdlab-claims" in html and "gdlab-claim-holds" in html
    assert "gdlab-claim-fails" not in html
    prefix, strict = probe.text.split()
    assert Path(prefix).resolve() == (ROOT / ".venv").resolve()
    assert strict == "0"


@needs_lab
def test_changed_knob_in_lab_shows_failing_claims_and_strict_raises(lab: Lab) -> None:
    """Stepsizes too small to oscillate, set in the chapter's settings cell: the lenient kernel
    shows the recomputed claims with failing rows and goes on; the strict check raises."""
    nb = _open_chapter(lab)
    found = _settings_cell(nb)
    if found is None:
        pytest.skip(f"{CHAPTER} has no settings cell (the knobs are tested without the server)")
    cell, name = found
    cell.source += f'\n{name}["lr"] = {NO_OSCILLATION!r}'
    kernel = Kernel(lab, time.monotonic() + RUN_LIMIT)
    try:
        kernel.run(nb)
        strict = kernel.execute("import os; os.environ['GDLAB_STRICT'] = '1'; result.check()")
    finally:
        kernel.close()
    assert not _errors(nb)
    html = _html(nb)
    assert "gdlab-claim-fails" in html and "settings changed: lr" in json.dumps(nb)
    assert [out.ename for out in strict if out.output_type == "error"] == ["ClaimFailure"]


def test_changed_knobs_recompute_claims(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another stepsize list recomputes the intro's claims: failing rows shown with a warning
    when lenient (GDLAB_STRICT=0), ClaimFailure when strict; another seed still holds."""
    cache = ResultCache(tmp_path)
    default = load("intro", cache=cache)
    config = settings("intro")
    config["lr"] = NO_OSCILLATION
    changed = load("intro", config, cache=cache)
    assert "settings changed: lr" in capsys.readouterr().out
    assert changed.config["lr"] == NO_OSCILLATION and default.config["lr"] != NO_OSCILLATION
    assert changed.values["peak"] != default.values["peak"]
    monkeypatch.setenv("GDLAB_STRICT", "0")
    with pytest.warns(ClaimWarning, match="claims fail"):
        table = changed.check()
    failing = table.failures
    assert "large stepsize: risk rises at least twice" in [c.name for c in failing]
    assert table._repr_html_().count("gdlab-claim-fails") == len(failing)
    monkeypatch.setenv("GDLAB_STRICT", "1")
    with pytest.raises(ClaimFailure, match="risk rises at least twice"):
        changed.check()
    seeded = settings("intro")
    seeded["seed"] = 1
    other = load("intro", seeded, cache=cache)
    assert other.config["seed"] == 1 and other.values["peak"] != default.values["peak"]
    assert other.check().ok


#: A notebook page whose one cell counts its executions in ``runs.txt`` next to it.
COUNTING_PAGE = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A notebook page

```{code-cell} ipython3
from myst_nb import glue

with open("runs.txt", "a") as runs:
    runs.write("run\\n")
glue("answer", 42, display=False)
print(6 * 7)
```

The answer is {glue:text}`answer`.

```{toctree}
plain
```
"""


def test_pages_offer_their_executed_notebook(tmp_path: Path) -> None:
    """A notebook page's download menu links ``_sources/<page>.ipynb``, a valid notebook with
    its outputs (not its glued values), also when a rebuild takes them from the execution
    cache; a page without code offers none."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    conf = f"""\
        import sys
        sys.path.insert(0, {str(ROOT / "book" / "_ext")!r})
        extensions = ["myst_nb", "gdlab_downloads"]
        html_theme = "sphinx_book_theme"
        nb_execution_mode = "cache"
        nb_execution_cache_path = {str(tmp_path / "cache")!r}
        """
    (src / "conf.py").write_text(textwrap.dedent(conf))
    (src / "index.md").write_text(COUNTING_PAGE)
    (src / "plain.md").write_text("# A plain page\n\nNo code.\n")
    build = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", str(src), str(out / "html")]
    for fresh in ([], ["-E"]):  # the second build re-reads every page, outputs from the cache
        done = subprocess.run(build + fresh, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        notebook = nbformat.read(out / "html" / "_sources" / "index.ipynb", as_version=4)
        nbformat.validate(notebook)
        (cell,) = [c for c in notebook.cells if c.cell_type == "code"]
        assert [o.get("text") for o in cell.outputs] == ["42\n"]
        page = (out / "html" / "index.html").read_text()
        assert 'href="_sources/index.ipynb"' in page and ">.ipynb<" in page
        assert ".ipynb" not in (out / "html" / "plain.html").read_text()
    assert (src / "runs.txt").read_text() == "run\n"
