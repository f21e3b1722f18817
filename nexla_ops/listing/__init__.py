"""Complete, filtered listings of any resource type (what list-resources and batch share):

    kinds    Kind, KINDS, columns_for, normalize_type
    filters  Filters, parse_filters, matches
    rows     summarize, flow items
    fetch    iter_items, iter_resources (every page, several in flight)
    output   records and writers (text, JSON, JSONL, CSV; atomic files)
    runner   run(args, ctx)
"""

from .fetch import iter_items, iter_resources
from .filters import Filters, matches, parse_filters
from .kinds import DEFAULT_LIMIT, FORMATS, KINDS, Kind, columns_for, normalize_type
from .rows import summarize

__all__ = ["DEFAULT_LIMIT", "FORMATS", "KINDS", "Filters", "Kind", "columns_for", "iter_items",
           "iter_resources", "matches", "normalize_type", "parse_filters",
           "summarize"]
