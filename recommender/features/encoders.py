"""Id encoders: string ids to dense integer codes and back, stable across save and load."""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.atomic import atomic_file
from recommender.columns import TEXT

UNKNOWN_CODE = -1


class IdEncoder:
    """Maps ids to codes ``0..n-1`` in the order given; unknown ids encode to ``UNKNOWN_CODE``."""

    def __init__(self, ids: Sequence[str] | pd.Index):
        index = pd.Index(pd.Series(ids, dtype=TEXT))
        if index.has_duplicates:
            raise ValueError(f"IdEncoder: duplicate ids, e.g. {index[index.duplicated()][0]!r}")
        self.index_ = index

    def __len__(self) -> int:
        return len(self.index_)

    @property
    def ids(self) -> np.ndarray:
        return self.index_.to_numpy(dtype=object)

    def code_of(self, id_: str) -> int:
        """The code of one id (``UNKNOWN_CODE`` when unknown): a hash lookup, for per-request use."""
        try:
            code = self.index_.get_loc(id_)
        except (KeyError, TypeError):
            return UNKNOWN_CODE
        return code if isinstance(code, int) else UNKNOWN_CODE

    def encode(self, ids) -> np.ndarray:
        """Codes of ``ids`` (int64), ``UNKNOWN_CODE`` where an id is unknown."""
        return self.index_.get_indexer(pd.Index(pd.Series(ids, dtype=TEXT)))

    def decode(self, codes) -> np.ndarray:
        """Ids of ``codes`` (only those are read: a few ids of many cost a few lookups)."""
        return self.index_.take(np.asarray(codes, dtype=np.int64)).to_numpy(dtype=object)

    def save(self, path: str | os.PathLike) -> None:
        """Write the ids as a JSON list (atomically)."""
        with atomic_file(path) as tmp:
            tmp.write_text(json.dumps(self.index_.tolist(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> IdEncoder:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))
