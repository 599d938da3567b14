"""Zhu et al. 2025, Hao et al. 2024 (Coconut): answer accuracy of 2-layer models on the
ProsQA-style task by method: no CoT, discrete CoT (the path), pause tokens (the equal-compute
control) and continuous thought, and, where the curriculum runs record it, the answer accuracy of
continuous thought's stage 0, its discrete CoT (with the frontier trace: every node at each
distance written out). A panel per task size (the knobs but `trace`); the tick labels name each
bar's trace and training steps.
Bars: the mean over seeds; error bars: the standard deviation; dots: the worst and best seed."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paper_figs.style import cli, plt, save, subtitle  # noqa: E402

METHODS = {"direct": "no CoT", "cot": "discrete CoT", "pause": "pause tokens", "latent": "continuous thought",
           "stage0": "its CoT stage 0"}
SHORT = {"no CoT": "no CoT", "discrete CoT": "discrete\nCoT", "pause tokens": "pause\ntokens",
         "continuous thought": "continuous\nthought", "its CoT stage 0": "cont. thought's\nCoT stage 0"}
LAYERS = 2


def method_rows(df):
    """answer_acc rows of the 2-layer prosqa runs, with a `method` column, in METHODS order; the
    continuous-thought runs' stage0_answer_acc rows as the method "its CoT stage 0"."""
    rows = df[(df["task"] == "prosqa") & (df["n_layer"] == LAYERS)].copy()
    rows["kind"] = rows["view"].str.split(":").str[0]
    stage0 = (rows["metric"] == "stage0_answer_acc") & (rows["kind"] == "latent")
    rows.loc[stage0, "kind"] = "stage0"
    rows = rows[(rows["metric"] == "answer_acc") | stage0]
    rows = rows[rows["kind"].isin(list(METHODS))]
    rows["method"] = rows["kind"].map(METHODS)
    rows["order"] = rows["kind"].map({k: i for i, k in enumerate(METHODS)})
    knobs = rows["knobs"].str.split(";")
    rows["size"] = knobs.map(lambda ks: ";".join(k for k in ks if not k.startswith("trace=")))
    rows["trace"] = knobs.map(lambda ks: next((k[6:] for k in ks if k.startswith("trace=")), ""))
    return rows.sort_values(["size", "order"])


def draw(df, out: Path) -> list[Path]:
    rows = method_rows(df)
    if rows.empty:
        return []
    panels = list(rows.groupby("size", sort=True))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.8 * len(panels), 3.6), sharey=True, squeeze=False)
    for ax, (size, g) in zip(axes[0], panels):
        xs = range(len(g))
        ax.bar(xs, g["mean"], color=[f"C{o}" for o in g["order"]], alpha=0.8)
        ax.errorbar(xs, g["mean"], yerr=g["std"], fmt="none", ecolor="k", capsize=3, lw=1)
        ax.scatter(list(xs) * 2, list(g["min"]) + list(g["max"]), color="k", s=8, zorder=3, label="worst / best seed")
        for x, (mean, top) in enumerate(zip(g["mean"], g["max"])):
            ax.annotate(f"{mean:.2f}", (x, max(top, mean)), xytext=(0, 4), textcoords="offset points", ha="center",
                        fontsize=7)
        cols = zip(g["method"], g["view"], g["trace"], g["train_steps"], g["kind"])
        ax.set_xticks(list(xs), [f"{SHORT[m]}\n{v}, {t}\n{'stage 0 of ' if k == 'stage0' else ''}{n} steps"
                                 for m, v, t, n, k in cols], fontsize=6)
        ax.axhline(0.5, color="k", lw=0.6, ls=":")  # two candidates: guessing scores 0.5 at best
        n_seeds = int(g["n_seeds"].min())
        ax.set(title=f"prosqa {size.replace(';', ', ')}\n{LAYERS} layers, d {int(g['d_model'].iloc[0])}, "
                     f"{n_seeds} seeds", ylim=(0, 1.05))
        ax.title.set_fontsize(8)
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("answer accuracy (exact match)")
    fig.suptitle("2-layer models on the ProsQA-style task (Zhu et al. 2025)\n" + subtitle(df), fontsize=8)
    fig.subplots_adjust(top=0.76)
    return [save(fig, out, "graphs_methods")]


if __name__ == "__main__":
    cli(draw)
