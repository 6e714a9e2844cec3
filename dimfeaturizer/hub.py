"""Weights on disk and on the Hugging Face Hub: config.json + model.safetensors.

``config.json`` records a format version, the library version and the SHA-256 of the
weights file; all three are checked on load. Weights are read only from safetensors,
never unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import resources
from pathlib import Path

import safetensors.torch
import torch

from . import __version__
from .config import SiteNetConfig
from .model.sitenet import SiteNetDIM

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT_VERSION = 1


def bundled_models() -> list[str]:
    """Names of the pretrained models shipped inside the package."""
    root = resources.files("dimfeaturizer.pretrained")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / CONFIG_NAME).is_file())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_pretrained(
    model: SiteNetDIM, directory: str | os.PathLike, extra: dict | None = None
) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_NAME
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(state, weights, metadata={"format": "pt"})
    config = {
        "format_version": FORMAT_VERSION,
        "library_name": "dimfeaturizer",
        "library_version": __version__,
        "weights_sha256": _sha256(weights),
        "model": model.config.to_dict(),
        **(extra or {}),
    }
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return directory


def resolve(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
) -> Path:
    """Directory holding the two files: a local folder, a bundled name, or a Hub repo id."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if str(name_or_path) in bundled_models() and revision is None:
        return Path(str(resources.files("dimfeaturizer.pretrained") / str(name_or_path)))
    from huggingface_hub import hf_hub_download

    files = [
        hf_hub_download(
            str(name_or_path),
            name,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
        )
        for name in (CONFIG_NAME, WEIGHTS_NAME)
    ]
    return Path(files[0]).parent


def load_pretrained(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
) -> SiteNetDIM:
    """A ``SiteNetDIM`` from a folder, a bundled name or the Hub, integrity-checked."""
    directory = resolve(
        name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only
    )
    meta = json.loads((directory / CONFIG_NAME).read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{directory / CONFIG_NAME}: format_version {meta.get('format_version')!r} is not "
            f"supported by dimfeaturizer {__version__} (expects {FORMAT_VERSION})"
        )
    weights = directory / WEIGHTS_NAME
    digest = _sha256(weights)
    if digest != meta["weights_sha256"]:
        raise ValueError(
            f"{weights} is corrupted: SHA-256 {digest} does not match {meta['weights_sha256']} "
            "recorded in config.json (delete the cached file and download again)"
        )
    model = SiteNetDIM(SiteNetConfig.from_dict(meta["model"]))
    model.load_state_dict(safetensors.torch.load_file(weights), strict=True)
    return model.eval()


def push_to_hub(
    model: SiteNetDIM,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload dimfeaturizer encoder",
    readme: str | None = None,
) -> str:
    """Create ``repo_id`` if needed and upload the weights (and a model card); returns the
    commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(model, tmp)
        if readme is not None:
            Path(tmp, "README.md").write_text(readme)
        info = api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message)
    return str(info)


def untrained_model(config: SiteNetConfig | None, seed: int) -> SiteNetDIM:
    """Random-weight model, the paper's control; the same seed gives the same weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SiteNetDIM(config).eval()
