"""Windows are whole numbers of days: "7d"; ``None`` means lifetime (docs/semantics.md)."""

from __future__ import annotations

import re

_WINDOW = re.compile(r"^([1-9][0-9]{0,4})d$")
LIFETIME = "lifetime"


def parse_window(value: object) -> int | None:
    """Return the window length in days, or None for a lifetime window.

    Raises ValueError with a message that says what is wrong and what is accepted.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str):
        hint = f' (write "{value}d")' if isinstance(value, int) and not isinstance(value, bool) \
            and value > 0 else ""
        raise ValueError(f"window {value!r} is not a string{hint}; windows are whole days like "
                         f'"1d", "7d", "30d", or None for lifetime')
    match = _WINDOW.match(value.strip())
    if not match:
        if re.match(r"^-?0*d$|^-\d+d$|^0+d$", value.strip()):
            reason = "a window must be at least one day"
        elif re.match(r"^\d+[a-zA-Z]+$", value.strip()):
            reason = "the only unit is 'd' (days); windows are whole days"
        else:
            reason = "expected a positive whole number of days followed by 'd'"
        raise ValueError(f'bad window {value!r}: {reason}; write e.g. "1d", "7d", "30d", '
                         f"or None for a lifetime window")
    return int(match.group(1))


def window_suffix(days: int | None) -> str:
    return LIFETIME if days is None else f"{days}d"
