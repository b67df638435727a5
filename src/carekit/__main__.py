"""``python -m carekit``: the ``carekit`` command, for an environment whose scripts are not
on the ``PATH`` (``.venv/bin/python -m carekit demo``)."""

from __future__ import annotations

import sys

from carekit.cli import main

if __name__ == "__main__":
    sys.exit(main())
