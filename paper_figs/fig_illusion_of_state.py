"""Merrill et al. 2024, "The Illusion of State": S5 tagging accuracy against word length for a
1-layer LSTM (a nonlinear RNN: it tracks S5 at every length), a diagonal linear recurrence
(S4D/Mamba-style) and the transformer at fixed depth (both in TC0: they fall as the word
grows). Reads the rows of the `rnn` suite family (runners/suites/rnn.py) from a result CSV."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paper_figs.style import cli, length_axis, plt, save, subtitle  # noqa: E402

MODELS = [("lstm", "LSTM (nonlinear RNN)", "C3"), ("linrec", "diagonal linear recurrence", "C0"),
          ("transformer", "transformer", "C2")]
METRIC, THRESHOLD = "token_acc", 0.95


def draw(df, out: Path) -> list[Path]:
    rows = df[(df["task"] == "s5") & (df["view"] == "tagging") & (df["metric"] == METRIC)]
    recurrent = rows[rows["model"].isin(["lstm", "linrec"])]
    if recurrent.empty:
        return []
    # the transformer rows of the same budget and width, at the lengths the RNNs were run at
    same = recurrent.iloc[0]
    rows = rows[(rows["d_model"] == same["d_model"]) & (rows["train_steps"] == same["train_steps"])
                & rows["length"].isin(recurrent["length"].unique())]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for model, label, color in MODELS:
        sub = rows[rows["model"] == model]
        for depth, g in sub.groupby("n_layer"):
            if model == "transformer" and depth > 2:
                continue
            g = g.sort_values("length")
            x, y = g["length"].astype(int), g["mean"]
            ax.errorbar(x, y, yerr=[y - g["min"], g["max"] - y], color=color, marker="o", ms=3, capsize=2,
                        ls="-" if depth == 1 else "--", label=f"{label}, {depth} layer{'s' if depth > 1 else ''}")
    ax.axhline(THRESHOLD, color="k", lw=0.6, ls=":")
    lengths = sorted(rows["length"].astype(int).unique())
    ax.set(xlabel="word length (mean over seeds, bars min to max; dotted: 95%)",
           ylabel=f"S5 tagging {METRIC}", ylim=(-0.03, 1.03))
    length_axis(ax, lengths)
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.legend(fontsize=6, loc="best")
    fig.suptitle("Merrill et al. 2024 claim: an RNN tracks S5 at one layer at every length;\na linear "
                 "state-space layer, like the transformer, needs depth that grows with length\n"
                 + subtitle(df), fontsize=8, y=1.05)
    return [save(fig, out, "illusion_of_state")]


if __name__ == "__main__":
    cli(draw)
