"""Result CSV validation and `depthbench compare`: exit codes, flagged rows, error messages."""
import pandas as pd
import pytest

from runners.compare import compare, main
from runners.results_csv import COLUMNS, KEY, MalformedCSV, read_results, write_results


def make_rows():
    """Two tasks x two metrics, 3 seeds each; answer_acc goes up, nmse goes down."""
    rows = []
    for task, knobs, length in [("groups", "length=16;p=11", 16), ("parity", "", "")]:
        for metric, mean, std in [("answer_acc", 0.9, 0.01), ("nmse", 0.10, 0.005)]:
            rows.append(dict(
                suite_version="0.1", task=task, knobs=knobs, length=length, view="direct",
                model="transformer", n_layer=4, d_model=128, n_head=4, n_loops=1, pos="learned",
                params=812544, train_steps=2000, batch_size=64, lr=1e-3, n_seeds=3,
                metric=metric, mean=mean, std=std, min=mean - std, max=mean + std,
                wall_s=12.5, device="cpu", git_sha="abc1234"))
    return pd.DataFrame(rows, columns=COLUMNS)


def write(tmp_path, name, df):
    path = tmp_path / name
    write_results(df, path)
    return str(path)


def set_row(df, task, metric, mean, std):
    i = df.index[(df["task"] == task) & (df["metric"] == metric)][0]
    df.loc[i, ["mean", "std", "min", "max"]] = [mean, std, mean - std, mean + std]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_round_trip(tmp_path):
    df = make_rows()
    back = read_results(write(tmp_path, "a.csv", df))
    assert list(back.columns) == COLUMNS
    assert back["length"].isna().sum() == 2 and back["length"].dropna().tolist() == [16, 16]
    assert "16.0" not in (tmp_path / "a.csv").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name != "a.csv"]  # no temp file left
    write_results(back, tmp_path / "b.csv")  # a frame as read (nullable ints) writes back the same
    assert (tmp_path / "b.csv").read_text() == (tmp_path / "a.csv").read_text()


def test_identical_files_are_same(tmp_path, capsys):
    a = write(tmp_path, "a.csv", make_rows())
    b = write(tmp_path, "b.csv", make_rows())
    code, out, _ = run(capsys, a, b)
    assert code == 0
    assert "4 rows: 0 regression, 0 improved, 4 same, 0 missing, 0 new" in out


def test_planted_regression_is_flagged(tmp_path, capsys):
    new = make_rows()
    set_row(new, "groups", "answer_acc", 0.6, 0.01)
    code, out, _ = run(capsys, write(tmp_path, "a.csv", make_rows()), write(tmp_path, "b.csv", new))
    assert code == 1
    flagged = [line for line in out.splitlines() if "regression" in line and "rows:" not in line]
    assert len(flagged) == 1 and "groups" in flagged[0] and "answer_acc" in flagged[0]
    assert "-0.3" in flagged[0]
    assert "1 regression" in out


def test_drop_within_seed_spread_is_not_flagged(tmp_path, capsys):
    ref, new = make_rows(), make_rows()
    set_row(ref, "groups", "answer_acc", 0.90, 0.05)
    set_row(new, "groups", "answer_acc", 0.80, 0.05)  # spread 0.0707, allowed 0.141 > 0.1
    code, _, _ = run(capsys, write(tmp_path, "a.csv", ref), write(tmp_path, "b.csv", new))
    assert code == 0
    row = compare(ref, new).set_index(["task", "metric"]).loc[("groups", "answer_acc")]
    assert row["status"] == "same" and row["allowed"] == pytest.approx(2 * 0.05 * 2 ** 0.5)


def test_drop_below_tol_is_not_flagged():
    ref, new = make_rows(), make_rows()
    set_row(new, "groups", "answer_acc", 0.89, 0.0)
    set_row(ref, "groups", "answer_acc", 0.90, 0.0)
    assert (compare(ref, new)["status"] == "same").all()


@pytest.mark.parametrize("nmse, status", [(0.20, "regression"), (0.01, "improved")])
def test_lower_is_better_metric(tmp_path, capsys, nmse, status):
    new = make_rows()
    set_row(new, "parity", "nmse", nmse, 0.005)
    result = compare(make_rows(), new).set_index(["task", "metric"])
    assert result.loc[("parity", "nmse"), "status"] == status
    code, _, _ = run(capsys, write(tmp_path, "a.csv", make_rows()), write(tmp_path, "b.csv", new))
    assert code == (1 if status == "regression" else 0)


def test_higher_accuracy_is_improved():
    new = make_rows()
    set_row(new, "groups", "answer_acc", 0.99, 0.005)
    result = compare(make_rows(), new).set_index(["task", "metric"])
    assert result.loc[("groups", "answer_acc"), "status"] == "improved"


def test_missing_and_new_rows_reported_not_regressions(tmp_path, capsys):
    ref, new = make_rows(), make_rows()
    ref = ref[ref["task"] != "parity"]  # parity only in new
    new = new[~((new["task"] == "groups") & (new["metric"] == "nmse"))]  # only in ref
    code, out, _ = run(capsys, write(tmp_path, "a.csv", ref), write(tmp_path, "b.csv", new))
    assert code == 0
    assert "0 regression, 0 improved, 1 same, 1 missing, 2 new" in out
    statuses = compare(ref, new).set_index(["task", "metric"])["status"]
    assert statuses[("groups", "nmse")] == "missing"
    assert statuses[("parity", "answer_acc")] == "new"


def test_metric_filter(tmp_path, capsys):
    new = make_rows()
    set_row(new, "parity", "nmse", 0.5, 0.005)  # a regression outside the filter
    a, b = write(tmp_path, "a.csv", make_rows()), write(tmp_path, "b.csv", new)
    code, out, _ = run(capsys, a, b, "--metric", "answer_acc")
    assert code == 0 and "nmse" not in out
    code, _, err = run(capsys, a, b, "--metric", "bleu")
    assert code == 2 and "bleu" in err


# ----------------------------------------------------------------------------- malformed
def csv_text(df):
    return df.to_csv(index=False)


def test_non_numeric_mean(tmp_path, capsys):
    df = make_rows().astype({"mean": object})
    df.loc[2, "mean"] = "oops"
    bad = tmp_path / "bad.csv"
    bad.write_text(csv_text(df))
    code, out, err = run(capsys, write(tmp_path, "a.csv", make_rows()), bad)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and str(bad) in err
    assert "row 4 column mean" in err and "'oops'" in err  # data index 2 = spreadsheet row 4


def test_missing_column(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(csv_text(make_rows().drop(columns=["std"])))
    code, _, err = run(capsys, bad, write(tmp_path, "b.csv", make_rows()))
    assert code == 2 and str(bad) in err and "row 1 column std" in err and "missing column" in err


def test_empty_file(tmp_path, capsys):
    bad = tmp_path / "empty.csv"
    bad.write_text("")
    code, _, err = run(capsys, bad, write(tmp_path, "b.csv", make_rows()))
    assert code == 2 and str(bad) in err and "row 1" in err and "empty" in err


def test_header_only_file(tmp_path):
    bad = tmp_path / "header.csv"
    bad.write_text(",".join(COLUMNS) + "\n")
    with pytest.raises(MalformedCSV, match="no data rows"):
        read_results(bad)


def test_nonexistent_path(tmp_path, capsys):
    code, _, err = run(capsys, tmp_path / "nope.csv", write(tmp_path, "b.csv", make_rows()))
    assert code == 2 and "nope.csv" in err and "no such file" in err


def test_duplicate_keys(tmp_path, capsys):
    df = make_rows()
    df = pd.concat([df, df.iloc[[1]]], ignore_index=True)
    df.loc[4, "git_sha"] = "other"  # not part of the key: still the same experiment
    bad = write(tmp_path, "dup.csv", df)
    code, _, err = run(capsys, write(tmp_path, "a.csv", make_rows()), bad)
    assert code == 2 and bad in err
    assert "row 6" in err and "same as row 3" in err and "duplicate" in err


@pytest.mark.parametrize("column, value, problem", [
    ("n_seeds", 0, "n_seeds is 0"),
    ("std", -0.1, "std is -0.1"),
    ("max", 0.5, "min <= mean <= max"),
    ("n_layer", 2.5, "not an integer"),
    ("knobs", "p=11;length=16", "not canonical"),
    ("task", "", "empty value"),
])
def test_invalid_values(tmp_path, column, value, problem):
    df = make_rows().astype({column: object})
    df.loc[0, column] = value
    bad = tmp_path / "bad.csv"
    bad.write_text(csv_text(df))
    with pytest.raises(MalformedCSV, match=problem) as e:
        read_results(bad)
    assert e.value.row == 2 and e.value.file == str(bad)


def test_key_is_a_subset_of_columns():
    assert set(KEY) <= set(COLUMNS)
