"""Evaluation: FID, KID, IS, precision/recall, C2ST and MMD, with real-vs-real floors."""

from .evaluate import METRICS, evaluate, format_table
from .features import EXTRACTORS, Extractor, get_extractor

__all__ = ["METRICS", "EXTRACTORS", "Extractor", "evaluate", "format_table", "get_extractor"]
