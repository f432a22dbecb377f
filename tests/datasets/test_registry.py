import pytest

import astrozoo.datasets as D
from astrozoo.datasets import registry


def test_list_datasets_describes_every_loader():
    infos = {d.name: d for d in D.list_datasets()}
    assert {"mnist", "cifar10", "asirra", "miles", "indo_us", "gz2", "gz_rings", "imagenet"} <= set(infos)
    for info in infos.values():
        d = info.as_dict()
        for field in ("source", "licence", "size", "splits", "builder", "loader"):
            assert d[field], (info.name, field)
    assert infos["mnist"].builder == "lenet5"
    assert infos["mnist"].loader is D.mnist
    assert [d.name for d in D.list_datasets("gz*")] == ["gz2", "gz_rings"]
    assert "miles" in [d.name for d in D.list_datasets(task="spectrum_classification")]


def test_register_dataset_call_and_decorator(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    def loader(split="train"):
        return split

    D.register_dataset("toy", loader, task="detection", source="s", licence="l", size="1", splits="train",
                       builder="b")
    assert D.get_dataset("toy").splits == ("train",)
    assert D.load_dataset("toy", split="x") == "x"

    @D.register_dataset("toy2", task="detection", source="s", licence="l", size="1", splits=("a", "b"),
                        builder="b")
    def other():
        return 1

    assert D.get_dataset("toy2").load() == 1
    with pytest.raises(ValueError, match="already registered"):
        D.register_dataset("toy", other, task="t", source="s", licence="l", size="1", splits="a", builder="b")
    D.register_dataset("toy", other, task="t", source="s", licence="l", size="1", splits="a", builder="b",
                       overwrite=True)
    assert D.get_dataset("toy").loader is other


def test_unknown_dataset_names_the_alternatives():
    with pytest.raises(ValueError, match="Unknown dataset 'nope'.*mnist"):
        D.get_dataset("nope")
