import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from astrozoo.utils import SHARED_DATA_ENV, shared_data_dir  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="run tests marked slow")
    parser.addoption(
        "--run-notebooks",
        action="store_true",
        default=False,
        help="run tests marked notebooks (executes applications/notebooks in quick mode)",
    )


def pytest_collection_modifyitems(config, items):
    opt_in = {"slow": "--run-slow", "notebooks": "--run-notebooks"}
    for marker, option in opt_in.items():
        if config.getoption(option):
            continue
        skip = pytest.mark.skip(reason=f"{marker}: run with {option}")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data():
    """``pathlib.Path`` of ../shared/data; the test is skipped when it is absent."""
    root = shared_data_dir()
    if root is None:
        pytest.skip(f"real data not available: set {SHARED_DATA_ENV} or provide ../shared/data")
    return root


@pytest.fixture(autouse=True)
def _clear_keras_session():
    yield
    import keras

    # free_memory=False: the gc.collect() it would run costs ~1 s per test.
    keras.backend.clear_session(free_memory=False)
    keras.config.set_dtype_policy("float32")
