"""Benchmark: how long the ``carekit`` command takes to start.

Runs ``carekit --version``, ``carekit --help`` and some ``carekit COMMAND --help`` as child
processes, each ``--runs`` times, and reports the median CPU time (user + system, from
``resource.getrusage(RUSAGE_CHILDREN)``) and wall time of each, beside the same for a bare
``python -c pass`` measured in the same run: the overhead column is what carekit adds to
the interpreter's own start. Prints a Markdown table.

The commands run as ``python -c "from carekit.cli import main; ..." ARGS`` with the
interpreter running this script, which is what the installed ``carekit`` script does (less
its own two imports), so every row and the bare row start the same interpreter alike.

Run: ``python benchmarks/cli.py [--runs N]`` (POSIX only: it reads ``resource``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--version",),
    ("--help",),
    ("staffing", "--help"),
    ("metrics", "--help"),
    ("journey", "replay", "--help"),
)

#: what the installed ``carekit`` script runs
ENTRY = "import sys; from carekit.cli import main; sys.exit(main())"


def measure(argv: list[str], runs: int, timeout: float) -> tuple[float, float]:
    """Median CPU and wall milliseconds of ``argv`` over ``runs`` runs."""
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=timeout, check=True)
        wall.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21,
                        help="runs per command; the median is reported (default 21)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds one run may take before the benchmark stops (default 30)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    python = sys.executable
    env_note = "" if not os.environ.get("PYTHONPROFILEIMPORTTIME") else " (import profiling on)"
    measure([python, "-c", "pass"], 3, args.timeout)  # warm the file cache
    bare_cpu, bare_wall = measure([python, "-c", "pass"], args.runs, args.timeout)
    print(f"carekit start-up, median of {args.runs} runs; {platform.python_implementation()} "
          f"{platform.python_version()} on {platform.machine()} {platform.system()}, "
          f"{os.cpu_count()} CPUs, {dt.date.today().isoformat()}{env_note}\n")
    print("| command | CPU ms | wall ms | bare `python -c pass` CPU ms | overhead CPU ms |")
    print("|---|---:|---:|---:|---:|")
    for command in COMMANDS:
        argv = [python, "-c", ENTRY, *command]
        measure(argv, 1, args.timeout)  # compile and cache the bytecode first
        cpu, wall = measure(argv, args.runs, args.timeout)
        print(f"| `carekit {' '.join(command)}` | {cpu:.1f} | {wall:.1f} | {bare_cpu:.1f} | "
              f"{cpu - bare_cpu:+.1f} |")
    print(f"\nbare `python -c pass`: {bare_cpu:.1f} ms CPU, {bare_wall:.1f} ms wall")


if __name__ == "__main__":
    main()
