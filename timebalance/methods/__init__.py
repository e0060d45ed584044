"""Methods: TimeBalance (temporal similarity score, teacher mixing, student objective)."""

from timebalance.methods.timebalance import (
    StudentLoss,
    mix_teachers,
    similarity_score,
    student_loss,
    temporal_similarity_matrix,
)

__all__ = [
    "StudentLoss",
    "mix_teachers",
    "similarity_score",
    "student_loss",
    "temporal_similarity_matrix",
]
