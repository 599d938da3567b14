"""Petty et al. 2023: depth against width at a fixed parameter count. Left: answer accuracy on
held-out combinations of k-hop composition (blocks shuffled, the names route the chain)
against depth, each point a model of about the same size (its width written beside it);
right: what each doubling of depth added, the diminishing returns."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paper_figs.style import cli, length_axis, plt, save, subtitle  # noqa: E402


def draw(df, out: Path) -> list[Path]:
    rows = df[(df["task"] == "khop") & (df["view"] == "direct") & (df["metric"] == "answer_acc")
              & df["knobs"].str.contains("order=shuffled", regex=False)]
    if rows.empty:
        return []
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8.5, 3), gridspec_kw={"wspace": 0.35})
    for i, ((knobs, steps), g) in enumerate(rows.groupby(["knobs", "train_steps"])):
        g = g.sort_values("n_layer")
        kv = dict(p.split("=", 1) for p in knobs.split(";"))
        hops = kv.get("hops", "?")
        if kv.get("kind") == "permutation":  # a uniform answer: chance is 1 / domain
            ax.axhline(1 / int(kv["domain"]), color=f"C{i}", lw=0.6, ls=":", label=f"chance (domain {kv['domain']})")
        label = f"{hops} hops, ~{g['params'].median() / 1e6:.2f}M params, {steps} steps"
        ax.errorbar(g["n_layer"], g["mean"], yerr=[g["mean"] - g["min"], g["max"] - g["mean"]], marker="o",
                    ms=4, capsize=2, color=f"C{i}", label=label)
        for r in g.itertuples(index=False):
            ax.annotate(f"d={r.d_model}", (r.n_layer, r.mean), textcoords="offset points", xytext=(4, -9),
                        fontsize=6, color=f"C{i}")
        depths, means = g["n_layer"].tolist(), g["mean"].tolist()
        gains = [(f"{a}→{b}", m2 - m1) for a, b, m1, m2 in zip(depths, depths[1:], means, means[1:])]
        xs = [j + 0.8 * i / max(1, rows.groupby(["knobs", "train_steps"]).ngroups) for j in range(len(gains))]
        ax2.bar(xs, [v for _, v in gains], width=0.35, color=f"C{i}", label=label)
        ax2.set_xticks(range(len(gains)), [k for k, _ in gains])
    ax.set(xlabel="depth (layers); width shrinks to keep the parameter count",
           ylabel="answer accuracy, held-out combinations", ylim=(-0.03, 1.03))
    length_axis(ax, rows["n_layer"].unique())
    ax.legend(fontsize=6)
    ax2.axhline(0, color="k", lw=0.6)
    ax2.set(xlabel="depth doubled", ylabel="accuracy gained")
    ax2.set_title("accuracy gained by each doubling of depth", fontsize=8)
    fig.suptitle("Depth against width at a fixed parameter count (Petty et al. 2023)\n" + subtitle(df), fontsize=8,
                 y=1.04)
    return [save(fig, out, "depth_width")]


if __name__ == "__main__":
    cli(draw)
