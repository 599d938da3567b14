"""Sanford et al. 2024: the smallest depth at which a transformer without CoT decides
undirected connectivity (one cycle or two) with mean answer accuracy >= THRESHOLD, against the
number of nodes n, next to the log2(n) of the theory (depth O(log n) suffices and is needed).
Left: the depth needed; right: the accuracies it was read from. An n that no depth reached is
drawn grey with a "?" where its deepest cell does not show a depth limit (`why_not_a_failure`:
a seed reached the threshold, or the curriculum never learned the CoT stage)."""
from __future__ import annotations

import math
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paper_figs.style import cli, length_axis, plt, save, subtitle  # noqa: E402

THRESHOLD = 0.9  # mean answer_acc over seeds; chance is 0.5 (yes/no, balanced)


NO_COT = r"direct|pause:\d+x0"  # answered without CoT: trained so, or through stepwise internalization


def connectivity_rows(df, metric: str = "answer_acc"):
    """Connectivity rows (answer accuracy unless `metric` says) of models that answer without CoT:
    the direct view, or `pause:Sx0` (stepwise internalization, whose final stage is the direct view
    token for token)."""
    rows = df[(df["task"] == "connectivity") & df["view"].astype(str).str.fullmatch(NO_COT)
              & (df["metric"] == metric)].copy()
    rows["nodes"] = rows["knobs"].map(lambda k: int(re.search(r"(?:^|;)nodes=(\d+)", k).group(1)))
    return rows


def _cell(df, n: int, depth: int, metric: str):
    rows = connectivity_rows(df, metric)
    at = rows[(rows["nodes"] == n) & (rows["n_layer"] == depth)]
    return at.iloc[0] if len(at) else None


def why_not_a_failure(df, n: int, depth: int) -> str | None:
    """None where `depth` clearly fails at n: its best seed under THRESHOLD and, for a curriculum
    run (pause:Sx0), its CoT stage learned (mean `stage0_answer_acc` >= THRESHOLD). Otherwise why
    the cell does not show a depth limit: a seed reached the threshold (optimization, not depth,
    failed the others), or the curriculum never learned the CoT (or the CSV does not record it)."""
    acc = _cell(df, n, depth, "answer_acc")
    if acc is None:
        return f"{depth} layers were not tried"
    if acc["max"] >= THRESHOLD:
        return f"a seed reached {acc['max']:.2f} at {depth} layers"
    if str(acc["view"]).startswith("pause"):
        cot = _cell(df, n, depth, "stage0_answer_acc")
        if cot is None:
            return f"the CoT stage at {depth} layers is not recorded"
        if cot["mean"] < THRESHOLD:
            return f"the CoT stage at {depth} layers reached only {cot['mean']:.2f}"
    return None


def unverified(df) -> dict[int, str]:
    """The n whose rise in min depth over the smaller n before it rests on a cell that does not
    show a depth limit (why_not_a_failure of the depth just below, or of the deepest tried when
    none reached THRESHOLD): n -> why."""
    out, prev = {}, None
    for n, d, top in min_depth_table(df):
        keyed = d if d is not None else top + 1
        if prev is not None and keyed > prev:
            why = why_not_a_failure(df, n, keyed - 1)
            if why:
                out[n] = why
        prev = keyed
    return out


def min_depth_table(df) -> list[tuple[int, int | None, int]]:
    """(n, smallest n_layer with mean >= THRESHOLD or None, largest depth tried), by n."""
    rows = connectivity_rows(df)
    out = []
    for n, g in rows.groupby("nodes"):
        ok = g[g["mean"] >= THRESHOLD]["n_layer"]
        out.append((int(n), int(ok.min()) if len(ok) else None, int(g["n_layer"].max())))
    return sorted(out)


def draw(df, out: Path) -> list[Path]:
    rows = connectivity_rows(df)
    if rows.empty:
        return []
    table = min_depth_table(df)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8, 3))
    ns = [n for n, _, _ in table]
    top = int(rows["n_layer"].max())
    found = [(n, d) for n, d, _ in table if d is not None]
    if found:
        ax.plot(*zip(*found), marker="o", color="C0", label=f"min depth (mean acc ≥ {THRESHOLD})")
    unsure = unverified(df)
    for n, d, tried in table:
        if d is None:  # no depth tried reached the threshold; grey where that is not a clean failure
            color = "0.6" if n in unsure else "C3"
            ax.scatter([n], [tried + 0.5], marker="^", color=color)
            ax.annotate(f"> {tried}" + ("?" if n in unsure else ""), (n, tried + 0.5), fontsize=6, color=color,
                        ha="center", va="bottom")
    grid = [2 ** (i / 4) for i in range(int(4 * math.log2(min(ns))), int(4 * math.log2(max(ns))) + 1)] + [max(ns)]
    ax.plot(grid, [math.log2(n) for n in grid], color="k", ls="--", lw=0.8, label="log2 n")
    title = "depth needed (▲: none tried reached it)"
    if unsure:
        title = title[:-1] + ";\ngrey ▲?: a seed reached it, or its CoT stage was not learned)"
    ax.set(xlabel="nodes n", ylabel="layers", title=title)
    length_axis(ax, ns)
    ax.set_ylim(0, max(top + 1, math.log2(max(ns))) + 0.5)
    ax.legend(fontsize=7)
    for i, (n, g) in enumerate(rows.sort_values("n_layer").groupby("nodes")):
        ax2.errorbar(g["n_layer"], g["mean"], yerr=g["std"], marker="o", ms=3, capsize=2, color=f"C{i}", label=f"n={n}")
    ax2.axhline(THRESHOLD, color="k", lw=0.6, ls=":")
    how = ("no CoT at test; trained through stepwise internalization (pause:Sx0)"
           if rows["view"].astype(str).str.startswith("pause").any() else "no CoT, trained directly")
    ax2.set(xlabel="layers", ylabel="answer accuracy", ylim=(0.4, 1.03), title=f"accuracy by depth and n\n{how}")
    ax2.set_xticks(sorted(rows["n_layer"].unique()))
    ax2.legend(fontsize=7)
    for a in (ax, ax2):
        a.title.set_fontsize(8)
    fig.suptitle("Does connectivity without CoT need depth that grows with n? (Sanford et al. 2024)\n" + subtitle(df),
                 fontsize=8)
    fig.subplots_adjust(top=0.74, wspace=0.3)
    return [save(fig, out, "graphs_depth")]


if __name__ == "__main__":
    cli(draw)
