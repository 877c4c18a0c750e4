"""CSV downloads: every panel of the dashboard, and the audit log; each one audited.

A page path, a referrer or a filter comes from visitors, so no cell may run as
a formula when an admin opens the file in a spreadsheet (OWASP's advice on CSV
injection, https://owasp.org/www-community/attacks/CSV_Injection): every text
cell is wrapped in double quotes, so a ``;`` or ``,`` inside it never starts a
new cell, and a cell with a formula trigger (``=``, ``+``, ``-``, ``@``, tab,
carriage return) at its start or after a separator gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.responses import Response

# A trigger at the start of the cell or after a separator (a spreadsheet set to split
# on ";" or "," would start a cell there), past any spaces or quotes in between.
_FORMULA = re.compile(r'(?:^|[,;])[ "]*[=+\-@\t\r]')


def safe_cell(value: Any) -> Any:
    """``value``, with a leading apostrophe when a spreadsheet could read it as a formula."""
    if isinstance(value, str) and _FORMULA.search(value):
        return "'" + value
    return value


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """A CSV attachment named ``filename``; numbers bare, every text cell quoted."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(header)
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe_name}"'},
    )
