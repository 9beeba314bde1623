"""Readings that name their unit, converted into the unit their metric is configured in (pint).

A device may send ``{"temperature": {"value": 68, "unit": "degF"}}`` to a metric configured in
degC: the value is converted (then calibrated like any value). A unit of another quantity, or one
pint does not know, is refused with the reason. Units of a quantity of their own (relative
humidity, explosive-limit percent, A-weighted decibels) are taken only as they are spelled in the
configuration: pint would read ``%RH`` as percent times ronnahenry, and percent of humidity is not
percent of a gas concentration.

The registry loads in about a second, so it is built on the first reading that needs it; each
pair of units is worked out once, as the line ``value * scale + offset``.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pint

log = logging.getLogger(__name__)

OWN_QUANTITY = frozenset({"%RH", "%LEL", "dB(A)", "dBA", "AQI", "NTU", "pH"})
# Spellings common on devices that pint reads otherwise (``m3`` is not cubic metres to it).
SPELLINGS = {"mg/m3": "mg/m**3", "ug/m3": "ug/m**3", "µg/m3": "ug/m**3", "μg/m3": "ug/m**3", "m3/h": "m**3/h"}
KEPT = 256  # pairs of units remembered; a device sends the same one or two


@functools.cache
def _registry() -> pint.UnitRegistry[float]:
    import pint

    log.info("loading the unit registry for a reading in another unit")
    return pint.UnitRegistry(cache_folder=None)


@functools.lru_cache(maxsize=KEPT)
def conversion(given: str, wanted: str) -> tuple[float, float] | str:
    """``(scale, offset)`` turning a value in `given` into `wanted`, or why it cannot be."""
    if given == wanted:
        return 1.0, 0.0
    own = given if given in OWN_QUANTITY else wanted if wanted in OWN_QUANTITY else None
    if own is not None:
        return f"unit {given!r} cannot be converted to {wanted!r} ({own} is a quantity of its own)"
    import pint

    registry = _registry()
    try:
        low = registry.Quantity(0.0, SPELLINGS.get(given, given)).to(SPELLINGS.get(wanted, wanted))
        high = registry.Quantity(1.0, SPELLINGS.get(given, given)).to(SPELLINGS.get(wanted, wanted))
    except pint.DimensionalityError:
        return f"unit {given!r} does not measure what {wanted!r} does"
    except Exception:  # pint's parser raises many kinds on what a device may send
        return f"unknown unit {given!r} (the metric is in {wanted})"
    offset = float(low.magnitude)
    return float(high.magnitude) - offset, offset
