"""Feng et al. 2023, their table as a grouped bar chart: answer accuracy of direct models with
3, 4 and 5 layers against CoT with 3 layers, for each task and size (expressions over F_11 by
number of operators, linear systems by number of variables, LIS and edit distance by
length). The same table is written next to the PNG as feng_table.csv.

Where a CSV holds one cell at several budgets (d_model, training steps), the cell shows the
longest-trained, widest one; the CSV says which. Numbers above the bars are percent."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paper_figs.style import cli, plt, save, subtitle  # noqa: E402

TASKS = [("expr", "ops", "Arithmetic (operators)"), ("equations", "vars", "Equations (variables)"),
         ("lis", "length", "LIS (length)"), ("edit", "length", "Edit distance (length)")]
BARS = [("direct", 3), ("direct", 4), ("direct", 5), ("cot", 3)]  # (view, n_layer), left to right
METRIC = "answer_acc"


def knob_value(knobs: str, name: str) -> int | None:
    for part in str(knobs).split(";"):
        key, _, val = part.partition("=")
        if key == name:
            return int(val)
    return None


def table(df):
    """One row per (task, size); per bar `<view>_L<depth>_mean`/`_std`, and the budget used."""
    import pandas as pd
    rows = df[(df["metric"] == METRIC) & (df["n_loops"] == 1) & (df["model"] == "transformer")]
    out = []
    for task, knob, _ in TASKS:
        sub = rows[rows["task"] == task].copy()
        if sub.empty:
            continue
        sub["size"] = [knob_value(k, knob) for k in sub["knobs"]]
        for size, g in sub.dropna(subset=["size"]).groupby("size"):
            rec = {"task": task, "size_knob": knob, "size": int(size)}
            budget = set()
            for view, depth in BARS:
                cell = g[(g["view"] == view) & (g["n_layer"] == depth)]
                col = f"{view}_L{depth}"
                if cell.empty:
                    rec[f"{col}_mean"] = rec[f"{col}_std"] = rec[f"{col}_seeds"] = None
                    continue
                best = cell.sort_values(["train_steps", "d_model"]).iloc[-1]
                rec[f"{col}_mean"], rec[f"{col}_std"] = float(best["mean"]), float(best["std"])
                rec[f"{col}_seeds"] = int(best["n_seeds"])
                budget.add(f"d{best['d_model']} h{best['n_head']} x{best['train_steps']} steps lr {best['lr']:g}")
            rec["budget"] = " | ".join(sorted(budget))
            if budget:
                out.append(rec)
    return pd.DataFrame(out)


def draw(df, out: Path) -> list[Path]:
    tab = table(df)
    if tab.empty:
        return []
    tasks = [t for t in TASKS if t[0] in set(tab["task"])]
    widths = [max(1, (tab["task"] == t).sum()) for t, _, _ in tasks]
    fig, axes = plt.subplots(1, len(tasks), figsize=(1.6 + 1.5 * sum(widths), 3.0), sharey=True,
                             gridspec_kw={"width_ratios": widths}, squeeze=False, layout="constrained")
    w = 0.2
    for ax, (task, knob, title) in zip(axes[0], tasks):
        sub = tab[tab["task"] == task].sort_values("size")
        xs = range(len(sub))
        for j, (view, depth) in enumerate(BARS):
            col = f"{view}_L{depth}"
            mean, std = sub[f"{col}_mean"].astype(float), sub[f"{col}_std"].astype(float)
            color = "C3" if view == "cot" else plt.cm.Blues(0.4 + 0.2 * (depth - 3))
            label = f"CoT, {depth} layers" if view == "cot" else f"direct, {depth} layers"
            pos = [x + (j - 1.5) * w for x in xs]
            ax.bar(pos, mean.fillna(0), w, yerr=std.fillna(0), color=color, capsize=2, label=label,
                   error_kw={"lw": 0.7})
            for p, m in zip(pos, mean):
                if m == m:  # not NaN: print the value above the bar
                    ax.text(p, m + 0.02, f"{100 * m:.0f}", ha="center", va="bottom", fontsize=5)
        ax.set_xticks(list(xs), [str(s) for s in sub["size"]])
        ax.set(title=title, xlabel=knob, ylim=(0, 1.1))
    axes[0][0].set_ylabel("answer accuracy (exact match)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, ncol=len(BARS), loc="outside lower center")
    fig.suptitle("CoT with 3 layers against direct answers with 3-5 layers (Feng et al. 2023)\n"
                 + subtitle(df) + " · " + "; ".join(sorted(set(tab["budget"]))), fontsize=7)
    png = save(fig, out, "feng_table")
    csv = out / "feng_table.csv"
    tab.to_csv(csv, index=False, float_format="%.4f")
    return [png, csv]


if __name__ == "__main__":
    cli(draw)
