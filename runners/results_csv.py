"""The result CSV: one row per (experiment, model config, view, metric), aggregated over seeds.

Example row (header first):
    suite_version,task,knobs,length,view,model,n_layer,d_model,n_head,n_loops,params,...
    0.1,groups,length=16;p=11,16,direct,transformer,4,128,4,1,812544,...

`read_results` validates a file and returns a DataFrame; every problem is a `MalformedCSV`
naming the file, the spreadsheet row (header = row 1, first data row = row 2) and the column.
`write_results` writes the columns in order, atomically (temp file, then os.replace).
"""
from __future__ import annotations

import math
import os

import pandas as pd

COLUMNS = [
    "suite_version", "task", "knobs", "length", "view", "model",
    "n_layer", "d_model", "n_head", "n_loops", "pos", "params",
    "train_steps", "batch_size", "lr", "n_seeds",
    "metric", "mean", "std", "min", "max", "wall_s", "device", "git_sha",
]
# two rows with the same key are the same experiment (knobs already holds length)
KEY = [
    "task", "knobs", "view", "model", "n_layer", "d_model", "n_head", "n_loops", "pos",
    "train_steps", "batch_size", "lr", "metric",
]
INT_COLUMNS = ["length", "n_layer", "d_model", "n_head", "n_loops", "params",
               "train_steps", "batch_size", "n_seeds"]
FLOAT_COLUMNS = ["lr", "mean", "std", "min", "max", "wall_s"]
NUMERIC = INT_COLUMNS + FLOAT_COLUMNS
OPTIONAL = ["length", "wall_s"]  # may be empty: a task without a length; wall time not recorded
REQUIRED_TEXT = ["task", "view", "model", "metric"]  # must be non-empty

HIGHER_IS_BETTER = {"answer_acc": True, "token_acc": True, "nmse": False, "loss": False}
ORDER_TOL = 1e-6  # slack for min <= mean <= max, since the three were rounded separately


def higher_is_better(metric: str) -> bool:
    """Known metrics from the table; errors and distances (nmse@k=05, dist_ols) go down;
    otherwise only names ending in 'acc' go up."""
    if metric.startswith(("nmse", "dist_")):
        return False
    return HIGHER_IS_BETTER.get(metric, metric.endswith("acc"))


def format_knobs(knobs: dict) -> str:
    """{'p': 11, 'length': 16} -> 'length=16;p=11' (the canonical knobs string)."""
    return ";".join(f"{k}={knobs[k]}" for k in sorted(knobs))


class MalformedCSV(Exception):
    """A result CSV that cannot be trusted; row is 1-based as in a spreadsheet (header = 1)."""

    def __init__(self, file, problem: str, row: int | None = None, column: str | None = None):
        self.file, self.problem, self.row, self.column = str(file), problem, row, column
        where = self.file
        if row is not None:
            where += f" row {row}"
        if column is not None:
            where += f" column {column}"
        super().__init__(f"{where}: {problem}")


def _row(i: int) -> int:
    """0-based data index -> spreadsheet row number."""
    return i + 2


def _check_knobs(path, i: int, text: str) -> None:
    if text == "":
        return
    parts = text.split(";")
    keys = [p.partition("=")[0] for p in parts]
    if any("=" not in p or not p.partition("=")[0] for p in parts):
        raise MalformedCSV(path, f"knobs {text!r} is not 'key=value;key=value'", _row(i), "knobs")
    if keys != sorted(set(keys)):
        raise MalformedCSV(path, f"knobs {text!r} is not canonical (keys sorted, each once); "
                                 f"expected {';'.join(sorted(parts))!r}", _row(i), "knobs")


def read_results(path) -> pd.DataFrame:
    """Read and validate a result CSV; raise MalformedCSV on the first problem found."""
    if not os.path.exists(path):
        raise MalformedCSV(path, "no such file")
    if os.path.getsize(path) == 0:
        raise MalformedCSV(path, "file is empty (no header)", 1)
    # read everything as text so that we, not pandas, decide what a bad number is
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise MalformedCSV(path, "file is empty (no header)", 1) from None
    except pd.errors.ParserError as e:
        raise MalformedCSV(path, f"not a valid CSV: {e}") from None
    for col in COLUMNS:
        if col not in df.columns:
            raise MalformedCSV(path, f"missing column {col!r} (expected: {', '.join(COLUMNS)})",
                               1, col)
    if len(df) == 0:
        raise MalformedCSV(path, "no data rows, only a header", 1)
    df = df[COLUMNS].copy()

    for col in REQUIRED_TEXT:
        empty = df.index[df[col].str.strip() == ""]
        if len(empty):
            raise MalformedCSV(path, "empty value", _row(empty[0]), col)
    for i, text in enumerate(df["knobs"]):
        _check_knobs(path, i, text)

    for col in NUMERIC:
        text = df[col].str.strip()
        values = pd.to_numeric(text, errors="coerce")
        for i, (t, v) in enumerate(zip(text, values)):
            if t == "" and col in OPTIONAL:
                continue
            if t == "":
                raise MalformedCSV(path, "empty value, expected a number", _row(i), col)
            if not math.isfinite(v):  # NaN from a failed parse, or a literal nan/inf
                raise MalformedCSV(path, f"{t!r} is not a finite number", _row(i), col)
            if col in INT_COLUMNS and v != int(v):
                raise MalformedCSV(path, f"{t!r} is not an integer", _row(i), col)
        df[col] = values.astype("Int64") if col in INT_COLUMNS else values.astype(float)

    for i, r in enumerate(df.itertuples(index=False)):
        if r.n_seeds < 1:
            raise MalformedCSV(path, f"n_seeds is {r.n_seeds}, must be >= 1", _row(i), "n_seeds")
        if r.std < 0:
            raise MalformedCSV(path, f"std is {r.std}, must be >= 0", _row(i), "std")
        slack = ORDER_TOL * max(1.0, abs(r.min), abs(r.max))
        if not r.min - slack <= r.mean <= r.max + slack:
            raise MalformedCSV(path, f"need min <= mean <= max, got min={r.min} mean={r.mean} "
                                     f"max={r.max}", _row(i), "mean")

    first_seen = {}
    for i, key in enumerate(df[KEY].itertuples(index=False, name=None)):
        if key in first_seen:
            raise MalformedCSV(path, f"duplicate experiment key, same as row {_row(first_seen[key])}"
                                     f" ({dict(zip(KEY, key))})", _row(i), "key")
        first_seen[key] = i
    return df


def write_results(df: pd.DataFrame, path) -> None:
    """Write df's COLUMNS in order to path, atomically (readers never see half a file)."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"write_results: missing columns {missing}")
    out = df[COLUMNS].copy()
    for col in INT_COLUMNS:  # so that 16 is written as 16, not 16.0, even next to an empty cell
        out[col] = pd.to_numeric(out[col].map(lambda v: None if isinstance(v, str) and v == "" else v)).astype("Int64")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"  # same folder, so os.replace is a rename, not a copy
    try:
        out.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
