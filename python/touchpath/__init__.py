"""touchpath: multi-touch attribution. Which touchpoints earned the sale?

    >>> import touchpath
    >>> result = touchpath.run("logs/", spend="spend.csv", lookback="7d")
    >>> result.channels            # a polars DataFrame, as channels.csv
    >>> result.write("report/")    # the files of `touchpath run --out report/`
    >>> result                     # in Jupyter, the report page

Options carry the names, defaults and validation of the command line's
flags (`--max-reject-rate 0.01` is `max_reject_rate=0.01`); `options("run")`
lists them. Tables go in through the Arrow C stream interface
(`__arrow_c_stream__`: polars, pyarrow, pandas, DuckDB) and come out as
polars DataFrames, whatever the versions installed. Bad input raises
`InputError`, a defect `InternalError`, with the command line's message.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from . import _touchpath as _native
from ._touchpath import InputError, InternalError, TouchpathError, __version__

__all__ = [
    "InputError",
    "InternalError",
    "TouchpathError",
    "Result",
    "Evaluation",
    "run",
    "validate",
    "paths",
    "generate",
    "evaluate",
    "options",
    "__version__",
]

# The tables of a report, by file: every attribute of `Result` that holds one.
_TABLES = {
    "channels": "channels.csv",
    "campaigns": "campaigns.csv",
    "stages": "stages.csv",
    "classes": "classes.csv",
    "kpis": "kpis.csv",
    "paths": "paths.csv",
    "stage_paths": "stage_paths.csv",
    "moments": "moments.csv",
    "credit_positions": "credit_positions.csv",
    "removal_effects": "removal_effects.csv",
    "rejects": "rejects.csv",
    "spend_rejects": "spend_rejects.csv",
    "set_aside_users": "set_aside_users.csv",
}


def options(command: str = "run") -> list[str]:
    """The keyword options of `command` (run, validate, paths, generate,
    evaluate): its command-line flags, with `_` for `-`."""
    return [name for name, _long, _kind, _help in _native.flags(command)]


def _polars(table: Any):
    import polars as pl

    return pl.DataFrame(table)


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def _inputs(value: Any, what: str) -> tuple[list[str], list[tuple[str, Any]]]:
    """Splits `events` or `spend` into paths and Arrow tables."""
    if value is None:
        return [], []
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    paths, tables = [], []
    for item in items:
        if _is_path(item):
            paths.append(os.fspath(item))
        else:
            tables.append(("", _arrow(item, what)))
    return paths, tables


def _arrow(table: Any, what: str) -> Any:
    """The table as an object with `__arrow_c_stream__`."""
    if hasattr(table, "__arrow_c_stream__"):
        return table
    module = type(table).__module__.split(".")[0]
    if module == "pandas":
        import pyarrow as pa

        return pa.Table.from_pandas(table, preserve_index=False)
    for method in ("to_arrow", "arrow"):  # DuckDB relations, older libraries
        if callable(getattr(table, method, None)):
            return getattr(table, method)()
    raise TypeError(
        f"{what}: expected a path, a list of paths, or a table with `__arrow_c_stream__` "
        f"(polars, pyarrow, pandas, DuckDB); got {type(table).__name__}"
    )


def _arguments(command: str, given: Mapping[str, Any]) -> list[str]:
    """The command-line arguments of keyword options."""
    flags = {name: (long, kind) for name, long, kind, _help in _native.flags(command)}
    arguments: list[str] = []
    for name, value in given.items():
        if name not in flags:
            known = ", ".join(sorted(flags))
            raise TypeError(f"{command}() got an unexpected option {name!r}; options: {known}")
        if value is None or value is False:
            continue
        long, kind = flags[name]
        flag = f"--{long}"
        if kind == "switch":
            if value is not True:
                raise TypeError(f"{command}(): option {name!r} is True or False, got {value!r}")
            arguments.append(flag)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                arguments += [flag, f"{key}={_text(item)}"]
        elif isinstance(value, (list, tuple)) and kind == "values":
            for item in value:
                arguments += [flag, _text(item)]
        elif isinstance(value, (list, tuple)):
            arguments += [flag, ",".join(_text(item) for item in value)]
        else:
            arguments += [flag, _text(value)]
    return arguments


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@dataclass
class Result:
    """What a run produced: its tables as polars DataFrames, its summary, and
    the files it wrote (in `out`)."""

    status: str
    """`ok`, `reject_rate_exceeded` or `no_events`, as in summary.json."""
    summary: dict
    """summary.json."""
    out: Path
    """The directory holding the report's files."""
    text: str
    """What `touchpath run` prints on stdout (see its `format` option)."""
    channels: Any = None
    campaigns: Any = None
    stages: Any = None
    classes: Any = None
    kpis: Any = None
    paths: Any = None
    stage_paths: Any = None
    moments: Any = None
    credit_positions: Any = None
    removal_effects: Any = None
    rejects: Any = None
    spend_rejects: Any = None
    set_aside_users: Any = None
    journeys: Any = None
    """One row per conversion, when `journeys_out` was given (on Spark, the
    Parquet dataset written, as a Spark DataFrame)."""
    driver_bytes: Optional[int] = None
    """On Spark: the bytes the executors sent the driver (states, tallies,
    first paths, `incremental`'s fit answers)."""
    driver_fit: Optional[tuple] = None
    """On Spark: `incremental`'s fit, as (requests to the executors, bytes
    of their answers); each answer holds a few numbers per rate term, so it
    does not grow with the log, and the requests are at most a few per
    Newton step."""
    _scratch: Any = field(default=None, repr=False)

    def write(self, out: str | os.PathLike) -> Path:
        """Writes the report's files to `out`, which is replaced whole and
        atomically: the same files, byte for byte, as `touchpath run --out`."""
        return Path(_native.publish(self.out, Path(out)))

    def html(self) -> str:
        """The report page (report.html)."""
        page = self.out / "report.html"
        if not page.is_file():
            raise InputError(f"{self.out}: this run wrote no report page (it did not attribute)")
        return page.read_text(encoding="utf-8")

    def _repr_html_(self) -> Optional[str]:
        page = self.out / "report.html"
        if not page.is_file():
            return None
        from html import escape

        return (
            f'<iframe srcdoc="{escape(page.read_text(encoding="utf-8"), quote=True)}" '
            'style="width:100%;height:900px;border:0" title="touchpath report"></iframe>'
        )

    def __str__(self) -> str:
        return self.text


def _result(status: str, out: Path, text: str, journeys: Optional[Path], scratch: Any) -> Result:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    tables = {}
    for name, file in _TABLES.items():
        path = out / file
        if path.is_file():
            tables[name] = _polars(_native.read_table(path))
    if journeys is not None and journeys.is_file():
        tables["journeys"] = _polars(_native.read_table(journeys))
    return Result(status=status, summary=summary, out=out, text=text, _scratch=scratch, **tables)


def _run(mode: str, events: Any, spend: Any, config: Any, given: dict) -> Result:
    event_paths, event_tables = _inputs(events, "events")
    spend_paths, spend_tables = _inputs(spend, "spend")
    if not event_paths and not event_tables:
        raise InputError("no events given: pass a path, a list of paths or a table")
    given = dict(given)
    scratch = None
    if given.get("emit_state") is None and given.get("out") is None:
        scratch = tempfile.TemporaryDirectory(prefix="touchpath-")
        given["out"] = Path(scratch.name) / "out"
    journeys = given.get("journeys_out")
    if journeys is True:
        if scratch is None:
            scratch = tempfile.TemporaryDirectory(prefix="touchpath-")
        journeys = given["journeys_out"] = Path(scratch.name) / "journeys.parquet"
    arguments = _arguments(mode, {"config": config, **given})
    if event_paths:
        arguments = ["--events", *event_paths] + arguments
    if spend_paths:
        arguments = ["--spend", *spend_paths] + arguments
    status, out, text = _native.run(mode, arguments, event_tables, spend_tables)
    if given.get("emit_state") is not None:
        # A partial state, or a bucket's credit, for `touchpath merge`: not a report.
        return Result(status=status, summary={}, out=Path(out), text=text, _scratch=scratch)
    return _result(status, Path(out), text, Path(journeys) if journeys else None, scratch)


def run(events: Any, spend: Any = None, *, config: Any = None, **options: Any) -> Result:
    """Ingests the touchpoint log, rebuilds journeys, attributes every
    conversion with every model and reports, as `touchpath run`.

    `events` and `spend` are paths (files, folders), lists of paths, or
    tables with `__arrow_c_stream__` (polars, pyarrow, pandas, DuckDB).
    `config` is a TOML configuration file; `options` are the flags of
    `touchpath run` (see `options("run")`). Without `out`, the report is
    written to a temporary folder that lives as long as the result;
    `journeys_out=True` adds the per-conversion table as `journeys`.
    """
    return _run("run", events, spend, config, options)


def validate(events: Any, spend: Any = None, *, config: Any = None, **options: Any) -> Result:
    """Ingests and accounts for every row only, as `touchpath validate`."""
    return _run("validate", events, spend, config, options)


def paths(events: Any, spend: Any = None, *, config: Any = None, **options: Any) -> Result:
    """The conversion paths alone, as `touchpath paths`."""
    return _run("paths", events, spend, config, options)


def generate(out: str | os.PathLike, **options: Any) -> Path:
    """Writes a synthetic touchpoint log and spend table to `out`, as
    `touchpath generate` (`truth=True` adds truth.csv); returns `out`."""
    _native.command("generate", _arguments("generate", {"out": out, **options}))
    return Path(out)


@dataclass
class Evaluation:
    """How every model did against the ground truth of simulated worlds."""

    scores: Any
    """evaluate.csv, a polars DataFrame: per scenario and model, the errors
    of conversion and revenue shares and the rank correlation."""
    out: Path

    def html(self) -> str:
        """evaluate.html: one chart per scenario."""
        return (self.out / "evaluate.html").read_text(encoding="utf-8")

    def _repr_html_(self) -> str:
        from html import escape

        return (
            f'<iframe srcdoc="{escape(self.html(), quote=True)}" '
            'style="width:100%;height:900px;border:0" title="touchpath evaluation"></iframe>'
        )


def evaluate(**options: Any) -> Evaluation:
    """Scores every model against the truth of the shipped scenarios (or
    `scenario=[...]`, or a log given with `events` and `truth`), as
    `touchpath evaluate`."""
    given = dict(options)
    given.setdefault("out", "touchpath-evaluate")
    _native.command("evaluate", _arguments("evaluate", given))
    out = Path(given["out"])
    return Evaluation(scores=_polars(_native.read_table(out / "evaluate.csv")), out=out)
