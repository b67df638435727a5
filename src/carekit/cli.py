"""The ``carekit`` command.

Each capability contributes one subcommand and one section of ``carekit demo``. Its options
live in :mod:`carekit._cli_args` (one function per subcommand, standard library only) and the
code that runs it in the capability's private ``_cli`` module, which provides:

* ``run(args: argparse.Namespace, out: TextIO) -> int``
* ``demo(out: TextIO, workdir: pathlib.Path) -> None``

``carekit --version``, ``carekit --help`` and ``carekit COMMAND --help`` import no capability:
only the chosen subcommand's module is imported, and only to run it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import carekit

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import pathlib
    from types import ModuleType
    from typing import Any, NoReturn, TextIO

__all__ = ["main"]

#: subcommand -> (function of carekit._cli_args adding its options, module running it,
#: one-line help)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "staffing": (
        "staffing", "carekit.staffing._cli",
        "staff an interval forecast (Erlang C/A) and check a roster",
    ),
    # a two-word command: `carekit staffing schedule ...` (see main)
    "staffing schedule": (
        "staffing_schedule", "carekit.staffing._schedule_cli",
        "build the cheapest roster from shift templates (needs carekit[schedule])",
    ),
    "promise": (
        "promise", "carekit.promises._cli",
        "learn delivery promises from order history; backtest them",
    ),
    "metrics": (
        "metrics", "carekit.metrics._cli", "NPS, CSAT, CES with confidence intervals from a CSV"
    ),
    "journey": (
        "journey", "carekit.journeys._cli",
        "list, draw and replay customer journeys; load events into a store; dispatch",
    ),
    "worker": (
        "worker", "carekit.journeys._worker_cli",
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
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            return None  # that capability is not part of this build
        raise


def _one_line(text: object) -> str:
    from carekit._cli_io import one_line

    return one_line(text)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), as the others are.

    Arguments it does not know are refused by the (sub)command they were given to, with that
    command's usage, not the top-level one.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)}; see {self.prog} --help\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and self.prog != "carekit":
            # a subcommand: say so here, with this subcommand's usage
            self.print_usage(sys.stderr)
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser for ``carekit``, with the options of ``command`` only.

    Every subcommand is listed (for ``--help``), but only ``command``'s options are added:
    the others would not be parsed. ``command=None`` adds every subcommand's options.
    """
    from carekit import _cli_args

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
    demo.add_argument("--workdir", type=_cli_args._path, default=None,
                      help="keep the demo's SQLite store, outputs and sample CSV files "
                      "(in DIR/samples) in this folder")
    for name, (options, _, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command is None or command == name:
            getattr(_cli_args, options)(p)
    return parser

def run_demo(out: TextIO, workdir: pathlib.Path | None = None) -> int:
    """Run every demo section, writing to ``out``."""
    import importlib.resources
    import pathlib
    import tempfile

    from carekit.errors import CareKitError

    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="carekit-demo-") as tmp:
            _run_sections(out, pathlib.Path(tmp))
        out.write(
            "The demo's files (journey store, staffing plan) were in a temporary folder, now "
            "removed; run `carekit demo --workdir DIR` to keep them, with the sample CSV "
            "files to try the other commands on.\n"
        )
        return 0
    if workdir.exists() and not workdir.is_dir():
        msg = (
            f"--workdir {str(workdir)!r} is a file; give a folder (created if missing) for "
            "the demo's store, outputs and samples"
        )
        raise CareKitError(msg)
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
    traceback: Ctrl-C is one line and exit status 130, and an unexpected exception (a bug) is
    one line too, with exit status 70, unless the environment variable ``CAREKIT_TRACEBACK``
    is set. Without a command it prints the usage on stderr and exits with status 2.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    command = "carekit"
    try:
        if len(words) >= 2 and f"{words[0]} {words[1]}" in _COMMANDS:
            words = [f"{words[0]} {words[1]}", *words[2:]]
        if words[:1] == ["worker"]:
            from carekit._cli_args import join_negative_durations

            words = join_negative_durations(words)
        chosen = next((w for w in words if not w.startswith("-")), None)
        parser = build_parser(chosen if chosen in _COMMANDS else "")
        args = parser.parse_args(words)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        command = f"carekit {args.command}"
        return _run(args, out)
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace, out: TextIO | None) -> int:
    import csv

    from carekit._cli_io import PrintableStream, one_line
    from carekit.errors import CareKitError

    stream: TextIO = PrintableStream(out if out is not None else sys.stdout)  # type: ignore[assignment]
    try:
        if args.command == "demo":
            return run_demo(stream, args.workdir)
        module = _module(_COMMANDS[args.command][1])
        if module is None:
            msg = f"this build of carekit has no {args.command!r} command"
            raise CareKitError(msg)
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
        print(f"carekit {args.command}: error: {one_line(_os_error(exc))}", file=sys.stderr)
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


def _os_error(exc: OSError) -> str:
    """A file error as a reader says it: ``cannot open 'x.csv': No such file or directory``.

    Errors without a file name or a reason (a socket's, a pipe's) keep their own text.
    """
    if exc.filename is None or not exc.strerror:
        return str(exc)
    return f"cannot open {os.fsdecode(exc.filename)!r}: {exc.strerror}"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests, embedding)
        pass


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
