"""Tables and the cost-against-size plot for ``benchmarks/scale.py`` results.

Takes the result dicts ``scale.py`` writes (one per size, pipeline and user count) and
renders them; it measures nothing itself. matplotlib (the ``plots`` extra) is imported
only when a plot is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot", "table"]


def _mb(value: float | None) -> str:
    return "–" if value is None else f"{value / 1e6:,.1f}"


def _notes(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 else f"{size // 1000}k"


def table(results: list[dict[str, Any]]) -> str:
    """Return the per-size Markdown tables: all pipelines, then the vector channel."""
    lines = [
        "| notes | pipeline | users | events/s | add first / last tenth ms (ratio) | "
        "peak RSS MB | disk after ingest / cleanup MB | index build s | search p50 / p95 ms | "
        "one scope alone: notes, search p50 / p95 ms (p95 ratio) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r["size"], r["pipeline"])):
        notes = _notes(r["size"])
        if r.get("stopped"):
            notes += f" (stopped at {r['notes']:,}: {r['stopped']})"
        alone = r.get("scope_alone")
        scope = "–"
        if alone:
            ratio = r["search_p95_ms"] / alone["search_p95_ms"]
            scope = (f"{alone['size']:,}: {alone['search_p50_ms']} / "
                     f"{alone['search_p95_ms']} ({ratio:.2f})")  # fmt: skip
        lines.append(
            f"| {notes} | {r['pipeline']} | {r['users']} | {r['events_per_s']:,} | "
            f"{r['add_first_decile_ms']} / {r['add_last_decile_ms']} ({r['last_over_first']}) | "
            f"{r['peak_rss_mb']:,.0f} | {_mb(r['disk_bytes_after_ingest'])} / "
            f"{_mb(r['disk_bytes_after_cleanup'])} | {r.get('index_build_s', '–')} | "
            f"{r['search_p50_ms']} / {r['search_p95_ms']} | {scope} |"
        )
    vector = [r for r in results if "ann_recall_at_10" in r]
    if vector:
        lines += [
            "",
            "| notes | pipeline | index (largest user) | ANN p50 / p95 ms | recall@10 vs exact | "
            "numpy exact p50 / p95 ms | ANN p50 / numpy p50 | LanceDB flat p50 ms | "
            "query embedding ms |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sorted(vector, key=lambda r: (r["size"], r["pipeline"])):
            ratio = r["ann_p50_ms"] / max(r["numpy_exact_p50_ms"], 1e-3)
            lines.append(
                f"| {_notes(r['size'])} | {r['pipeline']} | {r['index']} | {r['ann_p50_ms']} / "
                f"{r['ann_p95_ms']} | {r['ann_recall_at_10']} | {r['numpy_exact_p50_ms']} / "
                f"{r['numpy_exact_p95_ms']} | {ratio:.1f}× | {r.get('lance_flat_p50_ms', '–')} | "
                f"{r['query_embed_ms']} |"
            )
    return "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Plot ingest rate, search p95, peak RSS and disk against notes stored, per pipeline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("ingest events/s", lambda r: r["events_per_s"]),
        ("search p95 ms (query embedding included)", lambda r: r["search_p95_ms"]),
        ("peak RSS MB", lambda r: r["peak_rss_mb"]),
        ("disk after cleanup MB", lambda r: r["disk_bytes_after_cleanup"] / 1e6),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    pipelines = sorted({r["pipeline"] for r in results})
    for ax, (title, value) in zip(axes.flat, panels, strict=True):
        for name in pipelines:
            rows = sorted((r for r in results if r["pipeline"] == name and not r.get("stopped")),
                          key=lambda r: r["size"])  # fmt: skip
            if rows:
                ax.plot([r["size"] for r in rows], [value(r) for r in rows], "o-", label=name)
        if title.startswith("search"):
            exact = sorted((r for r in results if "numpy_exact_p95_ms" in r),
                           key=lambda r: r["size"])  # fmt: skip
            if exact:
                ax.plot([r["size"] for r in exact], [r["numpy_exact_p95_ms"] for r in exact],
                        "k--", label="numpy exact (vectors only)")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("notes stored")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("benchmarks/scale.py: cost against size (synthetic turns)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
