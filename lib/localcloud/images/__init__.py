"""The algorithm "images" localcloud runs: each is its own Python environment, as each SageMaker image is its own
container, so a job or an endpoint runs on the library versions AWS runs it on, whatever the server's own are.

``localcloud images install`` (run by ``make setup``) creates each environment from its pinned
``requirements.txt`` under :func:`root` (``$LOCALCLOUD_IMAGES``, else ``localcloud-images/`` in the server's own
environment); a stamp holding the requirements' hash tells an up-to-date environment from a stale one. Children of
an image run its interpreter with :func:`pythonpath` first on ``sys.path``: a folder holding only a link to the
``localcloud`` package, so the image's code imports :mod:`localcloud.core.childmain` and nothing of the server's
own packages.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from localcloud.errors import LocalCloudError

LOG = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PACKAGE_DIR = HERE.parent
STAMP = ".localcloud-image"


class ImageNotInstalled(LocalCloudError):
    """An image's environment is missing or stale; the message says how to install it."""


@dataclass(frozen=True)
class Image:
    """One image: its name, the requirements of its environment and the modules its children run."""

    name: str
    requirements: Path
    description: str

    def digest(self) -> str:
        return hashlib.sha256(self.requirements.read_bytes()).hexdigest()


XGBOOST = Image("sagemaker-xgboost-1.7-1", HERE / "builtin_xgboost" / "requirements.txt",
                "SageMaker built-in XGBoost 1.7-1 (xgboost 1.7.4)")
#: the SageMaker Scikit-learn 1.2-1 framework image; also the environment of a generic Python processing image
SKLEARN = Image("sagemaker-scikit-learn-1.2-1", HERE / "sklearn" / "requirements.txt",
                "SageMaker Scikit-learn 1.2-1 (scikit-learn 1.2.1)")
IMAGES: dict[str, Image] = {XGBOOST.name: XGBOOST, SKLEARN.name: SKLEARN}


def root() -> Path:
    configured = os.environ.get("LOCALCLOUD_IMAGES")
    return Path(configured).expanduser().resolve() if configured else Path(sys.prefix) / "localcloud-images"


def env_dir(image: Image) -> Path:
    return root() / image.name


def _python_of(folder: Path) -> Path:
    return folder / "bin" / "python"


def installed(image: Image) -> bool:
    """Whether the image's environment exists and was built from its current requirements."""
    stamp = env_dir(image) / STAMP
    return _python_of(env_dir(image)).exists() and stamp.is_file() and stamp.read_text().strip() == image.digest()


def python(image: Image) -> str:
    """The interpreter of the image's environment (raises :class:`ImageNotInstalled` when missing or stale)."""
    if not installed(image):
        state = "is out of date" if _python_of(env_dir(image)).exists() else "is not installed"
        raise ImageNotInstalled(
            f"localcloud's {image.description} environment {state} (looked in {env_dir(image)}). Install it with "
            f"`localcloud images install` (`make setup` does this), or point LOCALCLOUD_IMAGES at a folder where "
            f"it is installed.")
    return str(_python_of(env_dir(image)))


def pythonpath(image: Image) -> str:
    """A folder holding only a link to the ``localcloud`` package, for the image's ``sys.path``."""
    folder = env_dir(image) / "localcloud-path"
    link = folder / "localcloud"
    if not (link.is_symlink() and link.resolve() == PACKAGE_DIR):
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".localcloud-{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(PACKAGE_DIR, target_is_directory=True)
        os.replace(temporary, link)
    return str(folder)


def install(image: Image, *, force: bool = False, echo: Callable[[str], None] = print) -> bool:
    """Create or refresh the image's environment; False when it was already up to date."""
    folder = env_dir(image)
    if installed(image) and not force:
        echo(f"{image.name}: up to date ({folder})")
        return False
    echo(f"{image.name}: creating its environment in {folder} (one-time, a minute or two)")
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [[base, "-m", "venv", str(folder)],
             [str(_python_of(folder)), "-m", "pip", "install", "-q", "--disable-pip-version-check",
              "-r", str(image.requirements)]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            detail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise LocalCloudError(f"installing {image.name} failed at `{' '.join(step[:4])} ...`:\n"
                                  + "\n".join(detail))
    (folder / STAMP).write_text(image.digest() + "\n")
    pythonpath(image)
    echo(f"{image.name}: installed")
    return True


def install_all(*, force: bool = False, echo: Callable[[str], None] = print) -> None:
    for image in IMAGES.values():
        install(image, force=force, echo=echo)
