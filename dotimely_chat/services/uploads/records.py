"""What the upload service keeps in memory: the slots it issued (a PUT needs no database read) and the
metadata of recent files (a GET needs none either; files never change). The database stays the truth:
a PUT is recorded by a compare-and-set on its slot row, and a cached file lives at most a minute.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass
class SlotRecord:
    file_id: str
    business_id: int
    person_id: int
    jid: str
    filename: str
    size: int
    content_type: str
    expires_at: dt.datetime
    done: bool = False


@dataclass(frozen=True)
class FileMeta:
    filename: str
    content_type: str
    size: int
