"""Evaluation: FID, KID, IS, precision/recall, C2ST and MMD, with real-vs-real floors, and the
checks only some runs can answer (a conditional run's classes, a translation's domain, the
digit pair's digits) -- one evaluator over sampling runs, translation runs and image folders."""

from .base import Row
from .checks import CHECKS, Check
from .evaluate import METRICS, Metric, evaluate, format_table
from .features import EXTRACTORS, Extractor, get_extractor

__all__ = ["CHECKS", "Check", "METRICS", "Metric", "Row", "EXTRACTORS", "Extractor", "evaluate",
           "format_table", "get_extractor"]
