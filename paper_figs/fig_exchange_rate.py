"""The exchange rate between serial currencies: answer accuracy against the number L of
serial steps, one line per currency, one panel per task (k-hop composition, S5 word problem).

A row's currency and L come from its columns alone:
    depth   view direct, n_loops 1: L = n_layer
    loops   view direct, n_loops > 1: L = n_loops (one layer run L times)
    cot     view cot: L = trace tokens = ceil(K / trace_every), K = hops or length
            the 1-layer direct row is L = 1 of depth, loops and cot (a CoT of one token is the
            answer itself: the 1-layer base model answering directly)
    latent  view latent:SxC: L = min(S, ceil(K / trace_every)) * C thoughts
Only rows whose knobs name trace_every are read (the compositional suite's `exchange`).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paper_figs.style import cli, length_axis, plt, save, subtitle  # noqa: E402

CURRENCIES = [("depth", "depth: L layers"), ("loops", "loops: 1 layer run L times"),
              ("cot", "discrete CoT: L trace tokens"), ("latent", "continuous thought: L thoughts")]
TASKS = [("khop", "k-hop composition"), ("s5", "S5 word problem")]
THRESHOLD = 0.9  # the legend gives the smallest L whose mean reaches it


def parse_knobs(text: str) -> dict:
    return dict(part.split("=", 1) for part in text.split(";")) if text else {}


def task_size(task: str, knobs: dict) -> int:
    """K: the serial steps the task asks for (hops of k-hop, length of a word)."""
    return int(knobs["hops"] if task == "khop" else knobs["length"])


def currency(task: str, view: str, n_layer: int, n_loops: int, knobs: dict) -> list[tuple[str, int]]:
    """[(currency, L), ...] a row stands for (three for the 1-layer direct row); [] if none."""
    steps = math.ceil(task_size(task, knobs) / int(knobs.get("trace_every", 1)))
    if view == "direct":
        if n_loops > 1:
            return [("loops", n_loops)] if n_layer == 1 else []
        return [("depth", n_layer)] + ([("loops", 1), ("cot", 1)] if n_layer == 1 else [])
    if view == "cot":
        return [("cot", steps)]
    if view.startswith("latent:"):
        stage, _, per = view.partition(":")[2].partition("x")
        return [("latent", min(int(stage), steps) * int(per or 1))]
    return []


def chance(task: str, knobs: dict) -> float | None:
    if task == "s5":
        return 1 / 120
    if task == "khop" and knobs.get("kind") == "permutation":
        return 1 / int(knobs["domain"])
    return None


def points(df):
    """Long table: task, knobs, currency, L, mean, std, min, max, and the base model's shape."""
    import pandas as pd
    rows = df[(df["metric"] == "answer_acc") & df["task"].isin([t for t, _ in TASKS])
              & df["knobs"].str.contains("trace_every=", regex=False)]
    out = []
    for r in rows.itertuples(index=False):
        knobs = parse_knobs(r.knobs)
        for cur, L in currency(r.task, r.view, int(r.n_layer), int(r.n_loops), knobs):
            base = {k: v for k, v in knobs.items() if k != "trace_every"}
            out.append({"task": r.task, "base": ";".join(f"{k}={base[k]}" for k in sorted(base)),
                        "currency": cur, "L": L, "mean": r.mean, "std": r.std, "min": r.min, "max": r.max,
                        "d_model": int(r.d_model), "n_seeds": int(r.n_seeds), "train_steps": int(r.train_steps)})
    return pd.DataFrame(out)


def draw(df, out: Path) -> list[Path]:
    pts = points(df)
    if pts.empty:
        return []
    panels = [(t, title, base) for t, title in TASKS for base in sorted(pts[pts["task"] == t]["base"].unique())]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.3), sharey=True, squeeze=False)
    missing = set()
    for ax, (task, title, base) in zip(axes[0], panels):
        sub = pts[(pts["task"] == task) & (pts["base"] == base)]
        knobs = parse_knobs(base)
        for i, (cur, label) in enumerate(CURRENCIES):
            g = sub[sub["currency"] == cur].sort_values("L")
            if g.empty:
                missing.add(cur)
                continue
            hit = g[g["mean"] >= THRESHOLD]["L"]
            note = f"≥{THRESHOLD:.0%} at L={int(hit.min())}" if len(hit) else f"<{THRESHOLD:.0%} at every L"
            ax.errorbar(g["L"], g["mean"], yerr=[g["mean"] - g["min"], g["max"] - g["mean"]], marker="os^D"[i],
                        ms=4, capsize=2, color=f"C{i}", label=f"{label} ({note})")
        level = chance(task, knobs)
        if level is not None:
            ax.axhline(level, color="k", lw=0.6, ls=":", label="chance")
        K = task_size(task, knobs)
        ax.set(title=f"{title}, K = {K} ({sub['n_seeds'].max()} seeds, {sub['train_steps'].max()} steps)",
               xlabel="serial steps L", ylim=(-0.03, 1.03))
        length_axis(ax, sub["L"].unique())
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2))
        ax.title.set_fontsize(8)
    axes[0][0].set_ylabel("answer accuracy (exact match; bars: seed min-max)")
    lack = f"no rows for: {', '.join(sorted(missing))}\n" if missing else ""
    fig.suptitle("The exchange rate: what one serial step buys in each currency\n" + lack + subtitle(df), fontsize=8,
                 y=1.06 if lack else 1.02)
    return [save(fig, out, "exchange_rate")]


if __name__ == "__main__":
    cli(draw)
