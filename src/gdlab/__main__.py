"""``python -m gdlab``: see :mod:`gdlab.cli`."""

from gdlab.cli import main

raise SystemExit(main())
