"""Release identifiers: ISRC (ISO 3901) and UPC-A / EAN-13 barcodes."""

from __future__ import annotations

import re

_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{2}[0-9]{5}$")


def normalize_isrc(value: str) -> str:
    """Return the ISRC in its 12-character form (``CCXXXYYNNNNN``).

    Hyphens (``CC-XXX-YY-NNNNN``) are accepted and removed; letters are upper-cased.
    Raises ValueError with a message an engineer can act on.
    """
    compact = value.replace("-", "").strip().upper()
    if not _ISRC.match(compact):
        raise ValueError(
            f"{value!r} is not an ISRC: expected CC-XXX-YY-NNNNN (country code, 3-character "
            "registrant, 2-digit year, 5-digit designation), e.g. USABC2600001"
        )
    return compact


def gtin_check_digit(digits: str) -> int:
    """GS1 check digit of the digits before it (works for UPC-A and EAN-13)."""
    total = 0
    # Weights alternate 3, 1, 3 ... counting from the rightmost payload digit.
    for i, ch in enumerate(reversed(digits)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def normalize_barcode(value: str) -> str:
    """Validate a UPC-A (12 digits) or EAN-13 (13 digits) barcode and return its digits."""
    compact = value.replace(" ", "").replace("-", "")
    if not compact.isdigit() or len(compact) not in (12, 13):
        raise ValueError(f"{value!r} is not a UPC-A (12 digits) or EAN-13 (13 digits) barcode")
    expected = gtin_check_digit(compact[:-1])
    if int(compact[-1]) != expected:
        raise ValueError(
            f"{value!r} has check digit {compact[-1]} but its digits give {expected}: "
            "check the barcode for a typo"
        )
    return compact
