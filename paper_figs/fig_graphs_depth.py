"""Sanford et al. 2024: the smallest depth at which a transformer without CoT decides
undirected connectivity (one cycle or two) with mean answer accuracy >= THRESHOLD, against the
number of nodes n, next to the log2(n) of the theory (depth O(log n) suffices and is needed).
Left: the depth needed; right: the accuracies it was read from."""
from __future__ import annotations

import math
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paper_figs.style import cli, length_axis, plt, save, subtitle  # noqa: E402

THRESHOLD = 0.9  # mean answer_acc over seeds; chance is 0.5 (yes/no, balanced)


NO_COT = r"direct|pause:\d+x0"  # answered without CoT: trained so, or through stepwise internalization


def connectivity_rows(df):
    """Connectivity answer accuracy of models that answer without CoT: the direct view, or
    `pause:Sx0` (stepwise internalization, whose final stage is the direct view token for token)."""
    rows = df[(df["task"] == "connectivity") & df["view"].astype(str).str.fullmatch(NO_COT)
              & (df["metric"] == "answer_acc")].copy()
    rows["nodes"] = rows["knobs"].map(lambda k: int(re.search(r"(?:^|;)nodes=(\d+)", k).group(1)))
    return rows


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
    for n, d, tried in table:
        if d is None:  # no depth tried reached the threshold
            ax.scatter([n], [tried + 0.5], marker="^", color="C3")
            ax.annotate(f"> {tried}", (n, tried + 0.5), fontsize=6, color="C3", ha="center", va="bottom")
    grid = [2 ** (i / 4) for i in range(int(4 * math.log2(min(ns))), int(4 * math.log2(max(ns))) + 1)] + [max(ns)]
    ax.plot(grid, [math.log2(n) for n in grid], color="k", ls="--", lw=0.8, label="log2 n")
    ax.set(xlabel="nodes n", ylabel="layers", title="depth needed (▲: none tried reached it)")
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
