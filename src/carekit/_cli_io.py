"""What the ``carekit`` command reads and writes, made safe in one place (private).

* :class:`CsvRows` / :func:`open_csv`: every CSV file the command reads. UTF-8 with or without
  a byte-order mark (Excel's "CSV UTF-8"); quoting is strict, so an unterminated quote (which
  would swallow every later row into one field) or text after a closing quote is an error
  naming the file and line; a header naming a column twice is refused (a dict keeps only the
  last one); text that is not UTF-8 names the file.
* :func:`safe_cell` / :func:`write_csv` / :func:`neutralise_csv`: every CSV the command writes.
  A cell a spreadsheet would run as a formula (one starting with ``=``, ``+``, ``-``, ``@``, a
  tab or a carriage return, unless it is a plain number) gets a leading apostrophe, as the
  OWASP "CSV Injection" guidance recommends.
* :func:`printable` / :func:`one_line`: every text report. Control characters (ANSI escape
  sequences, carriage returns, bidirectional overrides) from the data are shown escaped
  (``\\x1b``), so a file cannot drive the reader's terminal.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from carekit._cli_args import PROGRESS_BYTES
from carekit.errors import CareKitError

if TYPE_CHECKING:
    import pathlib

__all__ = [
    "PROGRESS_BYTES",
    "CsvRows",
    "PrintableStream",
    "counted",
    "file_progress",
    "named_as_options",
    "neutralise_csv",
    "one_line",
    "open_csv",
    "printable",
    "safe_cell",
    "write_csv",
]

# C0 and C1 controls, DEL, the line and paragraph separators, and the bidirectional marks
# and overrides (which reorder what a terminal shows).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, keep: str = "") -> str:
    """``str(text)`` with control characters escaped (``\\x1b``), except those in ``keep``."""
    value = str(text)
    if keep:
        return "".join(
            part if part in keep else _CONTROL.sub(_escape, part)
            for part in re.split(f"([{re.escape(keep)}])", value)
        )
    return _CONTROL.sub(_escape, value)


def one_line(text: object) -> str:
    """``text`` as one printable line: its lines joined with ``"; "`` (a line ending in ``:``
    with a space), list bullets (``- ``) dropped, controls escaped."""
    parts = [part.strip() for part in str(text).splitlines()]
    parts = [part.removeprefix("- ") if part.startswith("- ") else part for part in parts if part]
    joined = "".join(
        part + (" " if part.endswith(":") else "; ") for part in parts[:-1]
    ) + (parts[-1] if parts else "")
    return printable(joined)


class PrintableStream:
    """A text stream that escapes control characters other than newline and tab."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(printable(text, keep="\n\t"))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def safe_cell(value: Any) -> Any:
    """``value``, with a leading apostrophe if a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def write_csv(
    out: TextIO, fieldnames: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> None:
    """Write a header and ``rows`` as CSV to ``out``, every cell through :func:`safe_cell`."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe_cell(name) for name in fieldnames])
    for row in rows:
        writer.writerow([safe_cell(row.get(name, "")) for name in fieldnames])


def neutralise_csv(text: str) -> str:
    """CSV ``text`` written again with every cell through :func:`safe_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in csv.reader(io.StringIO(text, newline="")):
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue()


def _without_bom(lines: Iterable[str]) -> Iterator[str]:
    iterator = iter(lines)
    first = next(iterator, None)
    if first is None:
        return
    yield first.removeprefix("\ufeff")
    yield from iterator


#: A row as :class:`csv.DictReader` gives it: extra cells in a list under the key None,
#: missing cells as None.
Row = dict[Any, Any]


class CsvRows:
    """The rows of a CSV text, checked as they are read; iterate for ``(line, row)`` pairs.

    ``line`` is the line the row starts on (a quoted field may span lines); ``row`` maps the
    header's names (stripped of surrounding spaces) to the row's cells like
    :class:`csv.DictReader` does. Blank lines are skipped.

    Raises:
        CareKitError: malformed CSV (an unterminated quote, text after a closing quote, a
            field longer than the csv module's limit), a header naming a column twice or
            separated by semicolons or tabs, or text that is not UTF-8, naming ``name`` and
            the line.
    """

    def __init__(self, lines: Iterable[str], name: str) -> None:
        self.name = name
        self._reader = csv.reader(_without_bom(lines), strict=True)
        header = self._next(1) or []
        self.fieldnames: list[str] = [column.strip() for column in header]
        if len(self.fieldnames) == 1:
            # Excel saves "CSV" with semicolons where the decimal mark is a comma.
            for separator, word in ((";", "semicolons"), ("\t", "tabs")):
                if separator in self.fieldnames[0]:
                    msg = (
                        f"{name} line 1: the header {self.fieldnames[0]!r} is separated by "
                        f"{word}, not commas; carekit reads comma-separated CSV (in Excel: "
                        "save as CSV UTF-8 (Comma delimited))"
                    )
                    raise CareKitError(msg)
        first: dict[str, int] = {}
        for number, column in enumerate(self.fieldnames, start=1):
            if column and column in first:
                msg = (
                    f"{name} line 1: the header names column {column!r} twice (columns "
                    f"{first[column]} and {number}); give every column its own name"
                )
                raise CareKitError(msg)
            first.setdefault(column, number)

    def _next(self, line: int) -> list[str] | None:
        try:
            return next(self._reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise CareKitError(self._malformed(line, exc)) from None
        except UnicodeDecodeError as exc:
            msg = (
                f"{self.name}: the file is not UTF-8 text ({exc.reason}); save it as UTF-8 "
                "(in Excel: CSV UTF-8)"
            )
            raise CareKitError(msg) from None

    def _malformed(self, line: int, exc: csv.Error) -> str:
        text = str(exc)
        where = f"{self.name} line {line}"
        if "unexpected end of data" in text:
            return (
                f"{where}: a quoted field that starts on this line is never closed (an "
                "unterminated \" quote would swallow every later row); close the quote"
            )
        if "field larger than field limit" in text:
            return (
                f"{where}: a field is longer than {csv.field_size_limit():,} characters "
                "(an unterminated \" quote?)"
            )
        if "expected after" in text:
            return (
                f"{where}: text after a closing quote ({text}); quote the whole field and "
                "double the quotes inside it"
            )
        return f"{where}: not valid CSV ({text})"

    def __iter__(self) -> Iterator[tuple[int, Row]]:
        names = self.fieldnames
        width = len(names)
        reader = self._reader
        while True:
            line = reader.line_num + 1
            cells = self._next(line)
            if cells is None:
                return
            if not cells:
                continue
            row: Row = dict(zip(names, cells, strict=False))
            if len(cells) > width:
                row[None] = cells[width:]
            elif len(cells) < width:
                for name in names[len(cells):]:
                    row.setdefault(name, None)
            yield line, row


@contextlib.contextmanager
def open_csv(path: pathlib.Path, progress: str = "never") -> Iterator[CsvRows]:
    """Open a CSV file (UTF-8, a BOM allowed) as :class:`CsvRows` named by its path.

    ``progress`` (``"auto"``, ``"always"`` or ``"never"``) shows how much of it was read, as
    :func:`file_progress` says.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle, \
            file_progress(path, progress) as advance:
        yield CsvRows(handle if advance is None else counted(handle, advance), str(path))




@contextlib.contextmanager
def file_progress(
    path: pathlib.Path, mode: str = "auto", stream: TextIO | None = None
) -> Iterator[Callable[[int], None] | None]:
    """Progress on ``stream`` (stderr) while ``path`` is read; yields ``advance(n)`` or None.

    ``mode`` ``"auto"`` shows a tqdm bar only when ``stream`` is a terminal, tqdm is
    installed (``pip install "carekit[progress]"``) and the file is over
    :data:`PROGRESS_BYTES`; otherwise nothing is written, so logs and redirected output get
    no progress frames. ``"always"`` shows it whatever the stream (and needs tqdm);
    ``"never"`` shows nothing. The bar is cleared when the file has been read.

    Raises:
        CareKitError: ``"always"`` without tqdm installed.
    """
    out = stream if stream is not None else sys.stderr
    if mode == "never":
        yield None
        return
    try:
        size = os.path.getsize(path)
    except OSError:  # a pipe or a file that went away: the reading says what is wrong
        size = 0
    if mode == "auto" and (size <= PROGRESS_BYTES or not _isatty(out)):
        yield None
        return
    try:
        from tqdm import tqdm  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        if mode == "always":
            msg = 'progress needs tqdm: pip install "carekit[progress]"'
            raise CareKitError(msg) from None
        yield None
        return
    bar = tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
               desc=f"reading {path.name}", file=out, dynamic_ncols=True)
    try:
        yield bar.update
    finally:
        bar.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def counted(lines: Iterable[str], advance: Callable[[int], None]) -> Iterator[str]:
    """``lines``, calling ``advance`` with the characters read every 4,096 lines."""
    read = 0
    for number, line in enumerate(lines, start=1):
        read += len(line)
        if number % 4096 == 0:
            advance(read)
            read = 0
        yield line
    advance(read)


@contextlib.contextmanager
def named_as_options(names: Mapping[str, str]) -> Iterator[None]:
    """Re-raise a :class:`CareKitError` that names an argument by its option instead.

    The library names its arguments (``max_occupancy must lie in (0, 1]``); the command's
    user typed options, so a message that starts with a key of ``names`` (or mentions it
    as ``(got ...)`` of another) is raised again with the option's name.
    """
    try:
        yield
    except CareKitError as exc:
        text = str(exc)
        changed = text
        for name, option in names.items():
            changed = re.sub(rf"(?<![\w-]){re.escape(name)}(?=[ =])", option, changed)
        if changed == text:
            raise
        raise CareKitError(changed) from None
