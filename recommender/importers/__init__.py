"""Importers: turn public data sets into purchase and catalog files under the data contract."""
from recommender.importers.uci_online_retail import ImportReport, import_online_retail

__all__ = ["ImportReport", "import_online_retail"]
