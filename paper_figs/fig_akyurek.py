"""Akyurek et al. 2022: which learning algorithm a transformer's in-context predictions are
closest to, by depth and label noise sigma. The suite records, per trained model, the mean
squared difference (/ d) between its predictions and those of one GD step, ridge with
lam = sigma^2 and least squares fitted on the same prompts (`dist_gd`, `dist_ridge`,
`dist_ols`). Left: the phase diagram (the closest learner per cell, its distance written in
it); right: the three distances against depth, a panel per noise level. At sigma = 0 ridge
with lam = 0 is least squares, so only GD and least squares compete there."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from matplotlib.colors import ListedColormap  # noqa: E402

from paper_figs.fig_garg import knob_dict  # noqa: E402
from paper_figs.style import cli, length_axis, plt, save, subtitle  # noqa: E402

LEARNERS = [("gd", "1 step of GD", "C2"), ("ridge", "ridge (λ = σ²)", "C1"), ("ols", "least squares", "C0")]


def closest_table(df):
    """(depth, sigma) -> {learner: distance} of the transformer rows, and the closest learner."""
    rows = df[(df["model"] == "transformer") & df["task"].isin(["linreg", "noisylinreg"])
              & df["metric"].isin([f"dist_{name}" for name, _, _ in LEARNERS])].copy()
    if rows.empty:
        return {}
    rows["sigma"] = rows["knobs"].map(lambda t: float(knob_dict(t).get("sigma", 0.0)))
    table = {}
    for (depth, sigma), g in rows.groupby(["n_layer", "sigma"]):
        dist = {m[len("dist_"):]: float(v) for m, v in zip(g["metric"], g["mean"])}
        if sigma == 0:
            dist.pop("ridge", None)  # lam = 0: ridge is least squares
        table[(int(depth), sigma)] = (dist, min(dist, key=dist.get))
    return table


def draw(df, out: Path) -> list[Path]:
    table = closest_table(df)
    if not table:
        return []
    depths = sorted({d for d, _ in table})
    sigmas = sorted({s for _, s in table})
    names = [name for name, _, _ in LEARNERS]
    fig, axes = plt.subplots(1, 1 + len(sigmas), figsize=(3.4 + 2.4 * len(sigmas), 3.2),
                             gridspec_kw={"width_ratios": [1.4] + [1] * len(sigmas)})
    ax = axes[0]
    grid = [[names.index(table[(d, s)][1]) if (d, s) in table else float("nan") for s in sigmas] for d in depths]
    ax.imshow(grid, cmap=ListedColormap([c for _, _, c in LEARNERS]), vmin=-0.5, vmax=len(LEARNERS) - 0.5,
              origin="lower", aspect="auto", alpha=0.55)
    for i, d in enumerate(depths):
        for j, s in enumerate(sigmas):
            if (d, s) in table:
                dist, best = table[(d, s)]
                ax.text(j, i, f"{best}\n{dist[best]:.3f}", ha="center", va="center", fontsize=7)
    ax.set(xticks=range(len(sigmas)), xticklabels=[f"{s:g}" for s in sigmas], yticks=range(len(depths)),
           yticklabels=depths, xlabel="label noise σ", ylabel="layers", title="closest learner (distance / d)")
    ax.grid(False)
    for ax, s in zip(axes[1:], sigmas):
        for name, label, color in LEARNERS:
            pts = [(d, table[(d, s)][0][name]) for d in depths if (d, s) in table and name in table[(d, s)][0]]
            if pts:
                ax.plot(*zip(*pts), color=color, marker="o", ms=3, label=label)
        ax.set(yscale="log", xlabel="layers", title=f"σ = {s:g}")
        length_axis(ax, depths)
    axes[1].set_ylabel("mean (model − learner)² / d")
    axes[-1].legend(fontsize=7)  # the highest sigma: every learner is drawn there
    fig.suptitle("Which learner the transformer's predictions match, by depth and noise (Akyurek et al. 2022)\n"
                 + subtitle(df), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return [save(fig, out, "akyurek_phase")]


if __name__ == "__main__":
    cli(draw)
