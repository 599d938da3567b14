"""Li et al. 2024: answer accuracy against length, a line per depth, no CoT against CoT, for
iterated squaring (r^(2^n) mod p, by the number n of squarings) and the circuit value problem
(by the number of gates).

Where a CSV holds one point at several budgets (d_model, training steps), the point is the
longest-trained, widest one."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paper_figs.fig_feng_table import knob_value  # noqa: E402
from paper_figs.style import cli, length_axis, plt, save, subtitle  # noqa: E402

PANELS = [("squaring", "n", "direct", "squaring, no CoT"), ("squaring", "n", "cot", "squaring, CoT"),
          ("cvp", "gates", "direct", "CVP, no CoT"), ("cvp", "gates", "cot", "CVP, CoT")]
XLABEL = {"n": "squarings n", "gates": "gates"}


def draw(df, out: Path) -> list[Path]:
    rows = df[(df["metric"] == "answer_acc") & df["task"].isin(["squaring", "cvp"])
              & df["view"].isin(["direct", "cot"]) & (df["n_loops"] == 1)]
    if rows.empty:
        return []
    fig, axes = plt.subplots(1, len(PANELS), figsize=(3.0 * len(PANELS), 2.8), sharey=True,
                             layout="constrained")
    depths = sorted(rows["n_layer"].unique())
    for ax, (task, knob, view, title) in zip(axes, PANELS):
        sub = rows[(rows["task"] == task) & (rows["view"] == view)].copy()
        sub["x"] = [knob_value(k, knob) for k in sub["knobs"]]
        sub = sub.dropna(subset=["x"]).sort_values(["train_steps", "d_model"]).groupby(["x", "n_layer"]).tail(1)
        for depth, g in sub.groupby("n_layer"):
            g = g.sort_values("x")
            shade = 0.45 + 0.55 * depths.index(depth) / max(1, len(depths) - 1)
            ax.errorbar(g["x"].astype(int), g["mean"], yerr=g["std"], marker="o", ms=3, capsize=2,
                        color=plt.cm.Reds(shade) if view == "cot" else plt.cm.Blues(shade),
                        label=f"{depth} layer{'s' if depth > 1 else ''}")
        ax.set(title=title, xlabel=XLABEL[knob], ylim=(-0.03, 1.03))
        if not sub.empty:
            length_axis(ax, sub["x"].astype(int).unique())
            ax.minorticks_off()
            ax.legend(fontsize=7)
    axes[0].set_ylabel("answer accuracy (exact match)")
    fig.suptitle("Serial arithmetic: no CoT against CoT, a line per depth (Li et al. 2024)\n" + subtitle(df),
                 fontsize=8)
    return [save(fig, out, "arith_length")]


if __name__ == "__main__":
    cli(draw)
