"""The /limits handler: the reference's categories and windows, each {limit, count}."""

from __future__ import annotations

from ...ctx import Ctx

# The reference names the windows and categories but no figures: these are the sandbox's own.
# The sandbox does not rate limit (429 only through fault rules), so no request uses any of it.
LIMITS = {"second": {"common": 20, "light": 50, "medium": 10, "high": 2},
          "day": {"common": 100_000, "light": 250_000, "medium": 50_000, "high": 5_000}}


def limits(c: Ctx):
    return {window: {category: {"limit": limit, "count": 0} for category, limit in caps.items()}
            for window, caps in LIMITS.items()}
