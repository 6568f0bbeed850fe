"""Print how long each notebook of the last book build took to execute.

myst-nb records, for every notebook it executes, the run time in seconds and
whether it succeeded; Sphinx pickles that record with its build environment in
`<build>/.doctrees/environment.pickle`. This script reads it and prints

    page                         seconds  status
    preface                         1.7   ok
    ...
    total                           1.7   (1 notebooks)

Usage: python book/report_times.py [BUILD_DIR]   (default: book/_build)
Exit status 1 if the record is missing or any notebook failed.
"""
from __future__ import annotations

import pickle
import sys
from pathlib import Path

DEFAULT_BUILD = Path(__file__).resolve().parent / "_build"


def execution_times(build_dir: Path) -> dict[str, dict]:
    """Map each executed page (docname) to myst-nb's record.

    Each record has `runtime` (seconds, float), `succeeded` (bool), `error`
    (exception class name or None) and `method` (the execution mode).
    """
    pickled = Path(build_dir) / ".doctrees" / "environment.pickle"
    if not pickled.is_file():
        raise FileNotFoundError(f"report_times: no build environment at {pickled}; build the book first")
    with pickled.open("rb") as handle:
        env = pickle.load(handle)  # needs sphinx importable: run with the project's .venv
    metadata = getattr(env, "nb_metadata", {})
    return {doc: data["exec_data"] for doc, data in metadata.items() if data.get("exec_data")}


def format_table(times: dict[str, dict]) -> str:
    """The table printed at the end of `make book`, slowest page first."""
    width = max([len("page"), *map(len, times)])
    lines = [f"{'page':<{width}}  {'seconds':>8}  status"]
    for doc, data in sorted(times.items(), key=lambda item: -item[1]["runtime"]):
        status = "ok" if data["succeeded"] else f"FAILED ({data['error']})"
        lines.append(f"{doc:<{width}}  {data['runtime']:8.1f}  {status}")
    total = sum(data["runtime"] for data in times.values())
    lines.append(f"{'total':<{width}}  {total:8.1f}  ({len(times)} notebooks)")
    return "\n".join(lines)


def write_report(build_dir: Path) -> Path | None:
    """Write the table to <build_dir>/execution_times.txt; return its path (None if no record)."""
    try:
        times = execution_times(build_dir)
    except FileNotFoundError:
        return None
    target = Path(build_dir) / "execution_times.txt"
    target.write_text(format_table(times) + "\n", encoding="utf8")
    return target


def main(argv: list[str]) -> int:
    build_dir = Path(argv[0]) if argv else DEFAULT_BUILD
    try:
        times = execution_times(build_dir)
    except FileNotFoundError as err:
        print(err, file=sys.stderr)
        return 1
    if not times:
        print(f"report_times: no executed notebooks recorded in {build_dir}", file=sys.stderr)
        return 1
    print("Execution time per notebook (executed by this build):")
    print(format_table(times))
    return 0 if all(data["succeeded"] for data in times.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
