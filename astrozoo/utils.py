"""Small helpers shared across astrozoo."""

import os
import pathlib

SHARED_DATA_ENV = "ASTROZOO_SHARED_DATA"


def shared_data_dir():
    """Folder of the project's small real datasets, or ``None`` when absent.

    Looked up in ``$ASTROZOO_SHARED_DATA``, then ``../shared/data`` beside the
    source checkout and beside the current directory. Tests, benchmarks and the
    ``applications/`` scripts read their real data from there.
    """
    candidates = []
    if os.environ.get(SHARED_DATA_ENV):
        candidates.append(pathlib.Path(os.environ[SHARED_DATA_ENV]))
    repo = pathlib.Path(__file__).resolve().parents[1]
    candidates += [repo.parent / "shared" / "data", pathlib.Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None


def require_shared_data(*parts):
    """Path inside the shared data folder; ``FileNotFoundError`` saying where to put it."""
    root = shared_data_dir()
    if root is None:
        raise FileNotFoundError(
            f"The shared data folder was not found: set {SHARED_DATA_ENV} to the folder that "
            "holds mnist/, cifar10/, miles/, galaxy_zoo/, bccd/ and cianna/ "
            "(or check out ../shared/data beside the repository)."
        )
    path = root.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist in the shared data folder {root}.")
    return path
