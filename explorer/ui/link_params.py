"""What a link hands the app (its query parameters), checked before any widget reads it.

Streamlit reads a number in a link as a float before its number widgets take it: "9" × 5,000
or "1e999" is infinity there, and turning infinity into a whole number raised out of the widget
(the whole page became "This app has encountered an error"). Such values are taken out of the
link, with a message, before any widget is made; a number is judged by its length before
anything converts it.
"""
from __future__ import annotations

import math
import re

MAX_NUMBER_CHARACTERS = 24  # 2**63 has 19 digits: no setting of this app needs a longer number
NUMBER = re.compile(r"[+-]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(e[+-]?\d+)?|[+-]?(inf|infinity|nan)", re.IGNORECASE)


def unusable_number(text: str) -> str | None:
    """Why ``text``, a number, is no value a setting can take (None: not a number, or a usable one)."""
    text = text.strip()
    if not NUMBER.fullmatch(text):
        return None  # not a number at all: the widget it belongs to judges it
    if len(text) > MAX_NUMBER_CHARACTERS:
        return f"a number of {len(text):,} characters"
    if not math.isfinite(float(text)):
        return "not a finite number"
    return None


def unusable_params(params: dict[str, list[str]]) -> dict[str, str]:
    """Key -> why, for every parameter holding a number no setting can take."""
    found = {}
    for key, values in params.items():
        for value in [values] if isinstance(values, str) else values:
            why = unusable_number(value)
            if why is not None:
                found[key] = why
                break
    return found


def drop_unusable_numbers() -> list[str]:
    """Take every unusable number out of this run's link, before any widget reads it; returns
    a message for each one taken out."""
    # Streamlit seeds a widget from the link as it was when the page loaded (``_initial_query_params``),
    # which no public call changes: both it and the live parameters lose the value.
    from streamlit.runtime.state.session_state_proxy import get_session_state

    with get_session_state().query_params() as params:
        found = unusable_params({**params._initial_query_params, **params._query_params})
        for key in found:
            params._initial_query_params.pop(key, None)
            params.remove_param(key)  # also tells the browser, so its address bar drops it
    return [f"Link: {key[:40]} was {why}, not a value any setting takes; it was left out" for key, why in found.items()]
