import numpy as np
import pytest

from astrozoo.evaluation import confusion_matrix


def test_counts_recall_precision_accuracy():
    cm = confusion_matrix([0, 1, 2, 2, 1, 0], [0, 2, 2, 2, 1, 1], class_names=["cat", "dog", "bird"])
    np.testing.assert_array_equal(cm.matrix, [[1, 1, 0], [0, 1, 1], [0, 0, 2]])
    np.testing.assert_allclose(cm.recall, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(cm.precision, [1.0, 0.5, 2 / 3])
    assert cm.accuracy == pytest.approx(4 / 6)
    table = cm.table()
    assert "Recall" in table and "Precision" in table and "66.67%" in table and "bird" in table


def test_probabilities_and_one_hot_inputs(tmp_path):
    y = np.array([0, 1, 1, 3])
    prob = np.eye(4)[[0, 1, 0, 3]] * 0.9 + 0.025
    cm = confusion_matrix(np.eye(4)[y], prob)
    assert cm.matrix.sum() == 4 and cm.matrix[1, 0] == 1
    assert np.isnan(cm.recall[2]) and np.isnan(cm.precision[2])
    cm.plot(tmp_path / "cm.png")
    assert (tmp_path / "cm.png").stat().st_size > 1000


def test_errors_name_the_bad_value():
    with pytest.raises(ValueError, match="shapes"):
        confusion_matrix([0, 1], [0])
    with pytest.raises(ValueError, match="y_pred=5"):
        confusion_matrix([0, 1], [0, 5], num_classes=3)
    with pytest.raises(ValueError, match="2 class_names"):
        confusion_matrix([0, 1], [0, 1], num_classes=3, class_names=["a", "b"])
