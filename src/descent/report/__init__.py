"""descent.report: self-contained HTML pages and the pictures of runs, comparisons and searches, used by
``descent train``, ``compare`` and ``search`` (and by anyone with a run folder)."""

from .curves import plot_comparison, plot_curves, plot_scatter, pyplot
from .pages import write_comparison_report, write_run_report, write_search_report

__all__ = ["plot_comparison", "plot_curves", "plot_scatter", "pyplot", "write_comparison_report",
           "write_run_report", "write_search_report"]
