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
    if size >= 1_000_000:
        return f"{size / 1_000_000:g}M"
    return f"{size / 1000:g}k" if size >= 1000 else str(size)


def table(results: list[dict[str, Any]]) -> str:
    """Return the per-size Markdown tables: all pipelines, then the vector channel."""
    lines = [
        (
            "| notes | pipeline | users | events/s | add first / last tenth ms (ratio) | "
            "peak RSS MB | disk after ingest / cleanup MB | index build s | search p50 / p95 ms | "
            "user 0's scope: notes, p50 / p95 ms here vs in a store of it alone (p95 ratio) |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r["size"], r["pipeline"])):
        notes = _notes(r["size"])
        if r.get("stopped"):
            notes += f" (stopped at {r['notes']:,}: {r['stopped']})"
        scope = "–"
        if "scope_alone_p50_ms" in r:
            ratio = r["scope_shared_p95_ms"] / r["scope_alone_p95_ms"]
            scope = (f"{r['scope_notes']:,}: {r['scope_shared_p50_ms']} / "
                     f"{r['scope_shared_p95_ms']} vs {r['scope_alone_p50_ms']} / "
                     f"{r['scope_alone_p95_ms']} ({ratio:.2f})")  # fmt: skip
        elif "scope_alone" in r:  # results of scale.py before 2026-12-06: a separate run
            alone = r["scope_alone"]
            ratio = r["search_p95_ms"] / alone["search_p95_ms"]
            scope = (f"{alone['size']:,}: all users' searches {r['search_p50_ms']} / "
                     f"{r['search_p95_ms']} vs {alone['search_p50_ms']} / "
                     f"{alone['search_p95_ms']} in a later run ({ratio:.2f})")  # fmt: skip
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
            (
                "| notes | pipeline | index (largest user) | ANN p50 / p95 ms | "
                "recall@10 vs exact | numpy exact p50 / p95 ms | ANN p50 / numpy p50 | "
                "LanceDB flat p50 ms | query embedding ms |"
            ),
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sorted(vector, key=lambda r: (r["size"], r["pipeline"])):
            ratio = r["ann_p50_ms"] / max(r["numpy_exact_p50_ms"], 1e-3)
            ties = f" ({r['ann_recall_at_10_ties']} ties counted)" if "ann_recall_at_10_ties" in r else ""
            lines.append(
                f"| {_notes(r['size'])} | {r['pipeline']} | {r['index']} | {r['ann_p50_ms']} / "
                f"{r['ann_p95_ms']} | {r['ann_recall_at_10']}{ties} | {r['numpy_exact_p50_ms']} / "
                f"{r['numpy_exact_p95_ms']} | {ratio:.1f}× | {r.get('lance_flat_p50_ms', '–')} | "
                f"{r['query_embed_ms']} |"
            )
    return "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]], path: Path,
         progress: list[dict[str, Any]] | None = None) -> None:  # fmt: skip
    """Plot cost against notes stored, per pipeline, into a PNG at ``path``.

    Panels: ingest rate, search p95, peak RSS, disk after cleanup (one point per run);
    the vector channel (ANN and exact numpy p50 over the same vectors); and, from
    ``progress`` lines (``--progress``), the median add time while each run grew.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("ingest events/s", lambda r: r["events_per_s"]),
        ("search p95 ms (Memory.search, query embedding included)", lambda r: r["search_p95_ms"]),
        ("peak RSS MB", lambda r: r["peak_rss_mb"]),
        ("disk after cleanup MB", lambda r: r["disk_bytes_after_cleanup"] / 1e6),
    ]
    fig, axes = plt.subplots(4, 2, figsize=(12, 14))
    pipelines = sorted({r["pipeline"] for r in results})
    for ax, (title, value) in zip(axes.flat, panels, strict=False):
        for name in pipelines:
            rows = sorted((r for r in results if r["pipeline"] == name and not r.get("stopped")),
                          key=lambda r: r["size"])  # fmt: skip
            if rows:
                ax.plot([r["size"] for r in rows], [value(r) for r in rows], "o-", label=name)
        _axes(ax, title, "notes stored")
    ax = axes[2][0]
    for name in ("vector", "hybrid"):
        rows = sorted((r for r in results if r["pipeline"] == name and "ann_p50_ms" in r),
                      key=lambda r: r["size"])  # fmt: skip
        if rows:
            sizes = [r["largest_user_rows"] for r in rows]
            ax.plot(sizes, [r["ann_p50_ms"] for r in rows], "o-", label=f"{name}: LanceDB ANN")
            ax.plot(sizes, [r["numpy_exact_p50_ms"] for r in rows], "kx--",
                    label=f"{name}: numpy exact")  # fmt: skip
            stored = [r for r in rows if "as_left_store_p50_ms" in r]
            if stored:  # the store's own search, whole notes, the table as it grew
                ax.plot([r["largest_user_rows"] for r in stored],
                        [r["as_left_store_p50_ms"] for r in stored], "s:",
                        label=f"{name}: store search (notes)")  # fmt: skip
    _axes(ax, "vector search p50 ms (one table)", "vectors in the table")
    growing = [
        ("median add ms while growing (32 turns per add)", "add_median_ms"),
        ("RSS MB while growing", "rss_mb"),
        ("disk MB while growing (old versions kept 5 min)", "disk_mb"),
    ]
    for ax, (title, key) in zip((axes[2][1], axes[3][0], axes[3][1]), growing, strict=True):
        for tag in dict.fromkeys(line["run"] for line in progress or []):
            lines = [line for line in progress or [] if line["run"] == tag]
            size, name, users = tag.split(":")
            ax.plot([line["notes"] for line in lines], [line[key] for line in lines],
                    ".-", label=f"{name} {_notes(int(size))}, {users} users")  # fmt: skip
        _axes(ax, title, "notes stored so far")
    fig.suptitle("benchmarks/scale.py: cost against size (synthetic turns)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _axes(ax: Any, title: str, xlabel: str) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
