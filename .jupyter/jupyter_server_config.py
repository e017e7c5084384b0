"""Jupyter configuration of ``make lab`` (found through ``JUPYTER_CONFIG_PATH``).

The JupyterLab settings defaults in ``lab/settings/overrides.json`` next to this file open
Markdown files, the book's chapters among them, as notebooks through jupytext. A reader's own
settings (Settings Editor) still take precedence.
"""

from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (provided by traitlets)
c.LabApp.app_settings_dir = str(Path(__file__).parent / "lab" / "settings")
