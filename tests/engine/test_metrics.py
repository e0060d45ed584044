import numpy as np
import pytest

from timebalance.engine.metrics import classification_metrics


def test_metrics_against_hand_computation():
    probs = np.array(
        [
            [0.7, 0.2, 0.1],  # truth 0, right
            [0.1, 0.3, 0.6],  # truth 1, wrong (top2 has it)
            [0.2, 0.5, 0.3],  # truth 1, right
            [0.5, 0.4, 0.1],  # truth 2, wrong, 2 is last
        ]
    )
    labels = np.array([0, 1, 1, 2])
    m = classification_metrics(probs, labels, ["a", "b", "c"])
    assert m["top1"] == pytest.approx(50.0)
    assert m["top5"] == pytest.approx(100.0)  # top-min(5, C) = top-3 covers everything
    assert m["per_class_accuracy"] == {"a": 100.0, "b": 50.0, "c": 0.0}
    assert m["mean_class_accuracy"] == pytest.approx(50.0)
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]
    assert m["n_test_videos"] == 4


def test_absent_class_is_not_averaged():
    m = classification_metrics(np.eye(3)[:2], np.array([0, 1]), ["a", "b", "c"])
    assert m["per_class_accuracy"]["c"] is None
    assert m["mean_class_accuracy"] == 100.0


def test_class_name_mismatch_is_an_error():
    with pytest.raises(ValueError, match="class names"):
        classification_metrics(np.eye(3), np.arange(3), ["a", "b"])
