"""Data layer: dataset adapters, synthetic dataset, frame extraction, splits, clips."""

from timebalance.data.index import FORMATS, AnnotationError, class_names, read_index

__all__ = ["FORMATS", "AnnotationError", "class_names", "read_index"]
