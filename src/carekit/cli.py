"""The ``carekit`` command.

Each capability contributes one subcommand and one section of ``carekit demo`` from its own
private ``_cli`` module, which provides:

* ``add_arguments(parser: argparse.ArgumentParser) -> None``
* ``run(args: argparse.Namespace, out: TextIO) -> int``
* ``demo(out: TextIO, workdir: pathlib.Path) -> None``
"""

from __future__ import annotations

import argparse
import csv
import importlib
import importlib.resources
import os
import pathlib
import sys
import tempfile
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn, TextIO

import carekit
from carekit._cli_io import PrintableStream, one_line
from carekit.errors import CareKitError

__all__ = ["main"]

#: subcommand -> (module providing it, one-line help)
_COMMANDS: dict[str, tuple[str, str]] = {
    "staffing": (
        "carekit.staffing._cli", "staff an interval forecast (Erlang C/A) and check a roster"
    ),
    # a two-word command: `carekit staffing schedule ...` (see main)
    "staffing schedule": (
        "carekit.staffing._schedule_cli",
        "build the cheapest roster from shift templates (needs carekit[schedule])",
    ),
    "promise": (
        "carekit.promises._cli", "learn delivery promises from order history; backtest them"
    ),
    "metrics": ("carekit.metrics._cli", "NPS, CSAT, CES with confidence intervals from a CSV"),
    "journey": (
        "carekit.journeys._cli",
        "list, draw and replay customer journeys; load events into a store; dispatch",
    ),
    "worker": (
        "carekit.journeys._worker_cli",
        "fire deadlines and deliver touchpoints of a journey store until stopped",
    ),
}
#: The bundled sample files ``carekit demo`` leaves in its folder, for the other commands.
_SAMPLES = (
    "journeys_events.csv",
    "metrics_responses.csv",
    "promises_orders.csv",
    "staffing_forecast.csv",
    "staffing_roster.csv",
)
#: demo sections in the order they are shown
_DEMO_SECTIONS = (
    "carekit._demo",
    "carekit.journeys._cli",
    "carekit.promises._cli",
    "carekit.staffing._cli",
    "carekit.metrics._cli",
)


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            return None  # that capability is not part of this build
        raise


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), as the others are."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``carekit`` and all its subcommands."""
    parser = _Parser(
        prog="carekit",
        description="Customer-care primitives for retail: journeys, promises, staffing, metrics.",
    )
    parser.add_argument("--version", action="version", version=f"carekit {carekit.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo", help="run every capability end to end on bundled sample data",
        description="Run every capability end to end on bundled sample data, with the "
        "embedded SQLite journey store in a temporary folder (or --workdir).",
    )
    demo.add_argument("--workdir", type=pathlib.Path, default=None,
                      help="keep the demo's SQLite store, outputs and sample CSV files "
                      "(in DIR/samples) in this folder")
    for command, (module_name, help_text) in _COMMANDS.items():
        module = _module(module_name)
        if module is None:
            continue
        p = sub.add_parser(command, help=help_text, description=help_text)
        module.add_arguments(p)
    return parser


def run_demo(out: TextIO, workdir: pathlib.Path | None = None) -> int:
    """Run every demo section, writing to ``out``."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="carekit-demo-") as tmp:
            _run_sections(out, pathlib.Path(tmp))
        out.write(
            "The demo's files (journey store, staffing plan) were in a temporary folder, now "
            "removed; run `carekit demo --workdir DIR` to keep them, with the sample CSV "
            "files to try the other commands on.\n"
        )
        return 0
    workdir.mkdir(parents=True, exist_ok=True)
    _run_sections(out, workdir)
    samples = workdir / "samples"
    samples.mkdir(exist_ok=True)
    for source in _SAMPLES:
        data = (importlib.resources.files("carekit") / "data" / source).read_bytes()
        (samples / source).write_bytes(data)
    out.write(
        f"The sample data is in {samples}: try\n"
        f"  carekit promise {samples / 'promises_orders.csv'} --segment product --backtest\n"
    )
    return 0


def _run_sections(out: TextIO, workdir: pathlib.Path) -> None:
    for name in _DEMO_SECTIONS:
        module = _module(name)
        if module is not None:
            module.demo(out, workdir)
            out.write("\n")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``carekit`` command; returns the exit status.

    Reports escape control characters that come from the data (so a file cannot drive the
    terminal); an error is one line on stderr with exit status 2, and nothing prints a
    traceback: an unexpected exception (a bug) is one line too, with exit status 70, unless
    the environment variable ``CAREKIT_TRACEBACK`` is set.
    """
    stream: TextIO = PrintableStream(out if out is not None else sys.stdout)  # type: ignore[assignment]
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    if len(words) >= 2 and f"{words[0]} {words[1]}" in _COMMANDS:
        words = [f"{words[0]} {words[1]}", *words[2:]]
    args = parser.parse_args(words)
    try:
        if args.command is None:
            parser.print_help(stream)
            return 0
        if args.command == "demo":
            return run_demo(stream, args.workdir)
        module = _module(_COMMANDS[args.command][0])
        assert module is not None
        status: int = module.run(args, stream)
        return status
    except CareKitError as exc:
        print(f"carekit {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`carekit demo | head`): stop quietly, as Unix tools do.
        _silence_stdout()
        return 0
    except OSError as exc:
        print(f"carekit {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(f"carekit {args.command}: error: the input is not UTF-8 text ({exc}); save the "
              "CSV file as UTF-8", file=sys.stderr)
        return 2
    except csv.Error as exc:
        print(f"carekit {args.command}: error: the input is not a CSV file carekit can read "
              f"({one_line(exc)})", file=sys.stderr)
        return 2
    except Exception as exc:
        if os.environ.get("CAREKIT_TRACEBACK"):
            raise
        print(f"carekit {args.command}: internal error: {type(exc).__name__}: {one_line(exc)} "
              "(a bug in carekit; set CAREKIT_TRACEBACK=1 to see where)", file=sys.stderr)
        return 70


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests, embedding)
        pass


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
