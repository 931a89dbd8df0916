"""Public data sets the project imports: where each comes from and under which licence.

Light on purpose (no pandas): the command line's ``--help`` quotes it. Nothing is ever downloaded;
an importer whose file is missing says where to get it (:meth:`PublicDataset.where_to_get`).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublicDataset:
    """A public data set: its name, page, licence and the credit its licence asks for."""

    name: str
    url: str
    licence: str
    citation: str
    how_to_save: str  # what to do with the download before an importer reads it

    def provenance(self) -> str:
        """Where the data set comes from, its licence and its credit, in one sentence."""
        return f"{self.name} ({self.url}), licensed {self.licence}: credit {self.citation}"

    def where_to_get(self, option: str = "--source PATH") -> str:
        """Where to get the data set and how to hand it over (``option``); nothing is downloaded for you."""
        return (f"the data set is {self.provenance()}. Download it from that page (nothing is downloaded for you), "
                f"{self.how_to_save} and pass that file with {option}")


UCI_ONLINE_RETAIL = PublicDataset(
    name='the UCI Machine Learning Repository\'s "Online Retail"',
    url="https://archive.ics.uci.edu/dataset/352/online+retail",
    licence="CC BY 4.0",
    citation="Chen, D. (2015). Online Retail [Dataset]. UCI Machine Learning Repository. "
             "https://doi.org/10.24432/C5BW33",
    how_to_save="save its workbook 'Online Retail.xlsx' as CSV UTF-8 (its month/day/year times are read as "
                "they are)",
)
