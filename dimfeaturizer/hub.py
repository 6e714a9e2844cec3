"""Weights on disk and on the Hugging Face Hub: config.json + model.safetensors.

The one module for weights I/O: the file format, the bundled registry (``pretrained/``)
and Hub download/upload. Models never import it. ``config.json`` records a format
version, the library version, the element table's name and hash, and the SHA-256 of the
weights file; all are checked on load. Weights are read only from safetensors, never
unpickled. A model with a prediction head stores the head's weights under ``head.`` beside
the encoder's, so its encoder loads wherever an encoder is expected.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import safetensors.torch
import torch

from ._version import __version__
from .config import TABLE_NAME, SiteNetConfig
from .data.elements import table_sha256
from .model import SiteNetDIM, SiteNetPredictor

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
# 2 added the element table's identity and optional prediction heads; 1 (dimfeaturizer
# 0.1.0) still loads; 3 is written only for an ensemble whose members have more than one
# architecture (head.member_models), so that releases that cannot build them refuse it
# by its version instead of failing on its weights; 4 also holds a regressor's training
# latents (LATENTS_KEY), without which a release would give another std
FORMAT_VERSION = 2
MIXED_MEMBERS_FORMAT = 3
TRAINING_LATENTS_FORMAT = 4
READABLE_FORMATS = (1, 2, 3, 4)
HEAD_PREFIX = "head."
MEMBER_PREFIX = "member."  # an ensemble's members after the first: member.<i>.<its keys>
LATENTS_KEY = "training_latents"  # (n_models, n_train, hidden): each member's hidden layer
# bundled in pretrained/; the model card says how it was trained and how it scores
DEFAULT_PRETRAINED = "sitenet-dim-mp25k-wide-2026.11"
#: the second bundled encoder (a distance basis; pretrained to reject perturbed
#: geometries): the fine-tuning estimators' members alternate between it and the default
GEOMETRY_PRETRAINED = "sitenet-dim-mp25k-wide-geometry-2026.12"
# earlier names of bundled models, still loadable (the weights left preview unchanged)
RENAMED = {"sitenet-dim-mp25k-wide-2026.11-preview": "sitenet-dim-mp25k-wide-2026.11"}


def _bundled_root():
    """Installed: the ``dimfeaturizer.pretrained`` package (the repository's top-level
    ``pretrained/``, mapped there by pyproject.toml). Source checkout: that folder."""
    try:
        return resources.files("dimfeaturizer.pretrained")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "pretrained"


def bundled_models() -> list[str]:
    """Names of the pretrained models shipped inside the package."""
    root = _bundled_root()
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / CONFIG_NAME).is_file())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_pretrained(
    model: SiteNetDIM | SiteNetPredictor,
    directory: str | os.PathLike,
    extra: dict | None = None,
    members: Sequence[SiteNetPredictor] = (),
    latents: np.ndarray | None = None,
) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``directory``.

    ``extra`` is merged into config.json (e.g. ``{"training": ...}``); for a
    ``SiteNetPredictor`` its ``"head"`` entry is extended with the head's shape.
    ``members``: an ensemble's other predictors, stored in the same weights file under
    ``member.<i>.`` (``model`` is member 0 and stays what ``load_pretrained`` reads).
    ``latents``: a regressor's training crystals in each member's hidden layer.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_NAME
    extra = dict(extra or {})
    encoder = model
    state = {}
    if isinstance(model, SiteNetPredictor):
        encoder = model.encoder
        state = {HEAD_PREFIX + k: v for k, v in model.head.state_dict().items()}
        shape = {"n_outputs": model.n_outputs, "hidden": model.hidden}
        if model.n_features or members:  # older readers never see keys they do not know
            shape.update(n_features=model.n_features, n_models=1 + len(members))
        if model.site_max:
            shape["site_max"] = True
        others = {str(i): m.encoder.config.to_dict() for i, m in enumerate(members, start=1)
                  if m.encoder.config != encoder.config}  # fmt: skip
        if others:  # members started from other weights: their architectures, by member
            shape["member_models"] = others
        extra["head"] = {**extra.get("head", {}), **shape}
    for i, member in enumerate(members, start=1):
        state.update({f"{MEMBER_PREFIX}{i}.{k}": v for k, v in member.state_dict().items()})
    state.update(encoder.state_dict())
    if latents is not None:
        state[LATENTS_KEY] = torch.as_tensor(np.asarray(latents, dtype=np.float32))
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    safetensors.torch.save_file(state, weights, metadata={"format": "pt"})
    version = FORMAT_VERSION
    if "member_models" in extra.get("head", {}):
        version = MIXED_MEMBERS_FORMAT
    if latents is not None:
        version = TRAINING_LATENTS_FORMAT
    config = {
        "format_version": version,
        "library_name": "dimfeaturizer",
        "library_version": __version__,
        "weights_sha256": _sha256(weights),
        "element_table": {"name": encoder.config.element_table, "sha256": table_sha256()},
        "model": encoder.config.to_dict(),
        **extra,
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
    """Directory holding the two files: a local folder, a bundled name, or a Hub repo id.

    Hub files go through ``huggingface_hub``'s cache, so ``HF_HUB_OFFLINE=1`` or
    ``local_files_only=True`` reuse an earlier download without any network access.
    """
    directory, from_hub = _config_dir(name_or_path, revision, cache_dir, local_files_only)
    if from_hub:
        # The cache keeps each commit in its own snapshots/<sha>/ folder: take the weights
        # from the commit the config came from, so that a push between the two downloads
        # cannot pair one commit's config with another's weights.
        _download(str(name_or_path), WEIGHTS_NAME, directory.name, revision, cache_dir,
                  local_files_only)
    return directory


def _config_dir(
    name_or_path: str | os.PathLike,
    revision: str | None,
    cache_dir: str | os.PathLike | None,
    local_files_only: bool,
) -> tuple[Path, bool]:
    """The folder of ``config.json`` and whether it is a Hub cache snapshot; downloads only
    that file. A name that can only be a folder or a bundled model fails here, at once,
    instead of as a missing Hub repository after the client's retries."""
    path = Path(name_or_path)
    if path.is_dir():
        return path, False
    name = RENAMED.get(str(name_or_path), str(name_or_path))
    if name in bundled_models() and revision is None:
        return Path(str(_bundled_root() / name)), False
    available = ", ".join(bundled_models()) or "none"
    if _looks_like_a_path(name_or_path):
        raise FileNotFoundError(
            f"{name!r}: no such folder (bundled models: {available}; a Hugging Face Hub "
            "repo id looks like 'org/name')"
        )
    if "/" not in name:
        raise ValueError(
            f"{name!r} is not a bundled model ({available}), not a folder, and not a "
            "Hugging Face Hub repo id ('org/name')"
        )
    config = _download(name, CONFIG_NAME, revision, revision, cache_dir, local_files_only)
    return config.parent, True


def _looks_like_a_path(name_or_path: str | os.PathLike) -> bool:
    """A Path object, or a string no Hub repo id can be: ./x, /x, ~/x, a/b/c, a\\b."""
    if isinstance(name_or_path, os.PathLike):
        return True
    name = str(name_or_path)
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def _endpoint_reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub endpoint opens (skipped behind a proxy, which
    the client handles): lets an unreachable Hub fail in seconds, not after ~23 s of
    the client's retries."""
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                                        "http_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def _download(
    repo_id: str,
    filename: str,
    revision: str | None,
    requested: str | None,
    cache_dir: str | os.PathLike | None,
    local_files_only: bool,
) -> Path:
    """``hf_hub_download`` with errors that name the repo, revision and file.

    The ``huggingface_hub`` error stays attached as ``__cause__``.
    """
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.utils import (
        EntryNotFoundError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    at = "" if requested is None else f" at revision {requested!r}"
    # an unreachable Hub: a cached copy still serves, otherwise the error below, at once
    unreachable = not (local_files_only or constants.HF_HUB_OFFLINE) and not (
        _endpoint_reachable(constants.ENDPOINT)
    )
    try:
        return Path(
            hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                cache_dir=cache_dir,
                local_files_only=local_files_only or unreachable,
            )
        )
    except HFValidationError as err:
        raise ValueError(
            f"{repo_id!r} is not an existing folder, not a bundled model "
            f"({', '.join(bundled_models()) or 'none'}) and not a valid Hugging Face Hub "
            f"repo id: {err}"
        ) from err
    except RepositoryNotFoundError as err:  # also GatedRepoError
        raise ValueError(
            f"{repo_id!r} is not an existing folder or a bundled model, and the Hugging Face "
            f"Hub ({constants.ENDPOINT}) has no repository {repo_id!r} that you can access "
            "(check the name; a private or gated repo needs a token: set HF_TOKEN)"
        ) from err
    except RevisionNotFoundError as err:
        raise ValueError(
            f"Hugging Face Hub repository {repo_id!r} has no revision {requested or 'main'!r} "
            "(expected a branch, a tag or a full commit sha)"
        ) from err
    except LocalEntryNotFoundError as err:  # before EntryNotFoundError: it subclasses it
        if unreachable or not (local_files_only or constants.HF_HUB_OFFLINE):
            why = f"the Hub ({constants.ENDPOINT}) could not be reached"
        elif local_files_only:
            why = "local_files_only=True"
        else:
            why = "HF_HUB_OFFLINE is set"
        where = cache_dir if cache_dir is not None else constants.HF_HUB_CACHE
        raise FileNotFoundError(
            f"{filename} of Hugging Face Hub repository {repo_id!r}{at} is not in the local "
            f"cache ({where}) and {why}: download it once with network access, or pass "
            "the folder written by save_pretrained"
        ) from err
    except EntryNotFoundError as err:
        raise ValueError(
            f"Hugging Face Hub repository {repo_id!r}{at} has no file {filename!r}; a "
            f"dimfeaturizer model repository holds {CONFIG_NAME} and {WEIGHTS_NAME} "
            "(as written by save_pretrained / push_to_hub)"
        ) from err


def load_config(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
) -> SiteNetConfig:
    """The architecture of published weights, without downloading or reading the weights
    (what an untrained control of the same architecture needs)."""
    directory, _ = _config_dir(name_or_path, revision, cache_dir, local_files_only)
    return SiteNetConfig.from_dict(_read_meta(directory)["model"])


def _read_meta(directory: Path) -> dict:
    meta = json.loads((directory / CONFIG_NAME).read_text())
    if meta.get("format_version") not in READABLE_FORMATS:
        raise ValueError(
            f"{directory / CONFIG_NAME}: format_version {meta.get('format_version')!r} is not "
            f"supported by dimfeaturizer {__version__} (reads {list(READABLE_FORMATS)})"
        )
    _check_element_table(meta, directory)
    return meta


def _check_element_table(meta: dict, directory: Path) -> None:
    """The weights were trained on this library's element table, or they mean nothing.

    Format 1 recorded only the table's name (in the model config); its one table is this
    library's ``pymatgen-9-v1``.
    """
    name = meta.get("model", {}).get("element_table", TABLE_NAME)
    recorded = meta.get("element_table", {"name": name, "sha256": None})
    if recorded["name"] != TABLE_NAME:
        raise ValueError(
            f"{directory}: the weights were trained with element table {recorded['name']!r}; "
            f"dimfeaturizer {__version__} has {TABLE_NAME!r}"
        )
    if recorded["sha256"] is not None and recorded["sha256"] != table_sha256():
        raise ValueError(
            f"{directory}: element table {TABLE_NAME!r} of the weights (SHA-256 "
            f"{recorded['sha256']}) differs from this library's ({table_sha256()}); the "
            "features would not mean what the weights learned"
        )


def _load_checked(
    name_or_path: str | os.PathLike,
    revision: str | None,
    cache_dir: str | os.PathLike | None,
    local_files_only: bool,
) -> tuple[dict, dict[str, torch.Tensor]]:
    """config.json and the weights' tensors, integrity-checked."""
    directory = resolve(
        name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only
    )
    meta = _read_meta(directory)
    weights = directory / WEIGHTS_NAME
    digest = _sha256(weights)
    if digest != meta["weights_sha256"]:
        raise ValueError(
            f"{weights} is corrupted: SHA-256 {digest} does not match {meta['weights_sha256']} "
            "recorded in config.json (delete the cached file and download again)"
        )
    return meta, safetensors.torch.load_file(weights)


def _encoder(meta: dict, state: dict[str, torch.Tensor]) -> SiteNetDIM:
    model = SiteNetDIM(SiteNetConfig.from_dict(meta["model"]))
    own = {k: v for k, v in state.items()
           if not k.startswith((HEAD_PREFIX, MEMBER_PREFIX)) and k != LATENTS_KEY}
    model.load_state_dict(own, strict=True)
    return model.eval()


def load_pretrained(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
) -> SiteNetDIM:
    """The encoder saved in a folder, a bundled name or a Hub repo (in eval mode); a saved
    model with a head gives its (fine-tuned) encoder."""
    return _encoder(*_load_checked(name_or_path, revision, cache_dir, local_files_only))


def load_predictor(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
) -> tuple[SiteNetPredictor, dict]:
    """A saved encoder with its prediction head (an ensemble's first member), and
    config.json's ``"head"`` entry."""
    models, head, _ = load_predictors(
        name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only
    )
    return models[0], head


def load_predictors(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
) -> tuple[list[SiteNetPredictor], dict, np.ndarray | None]:
    """Every member of a saved predictor (one, or an ensemble's), config.json's
    ``"head"`` entry, and the training latents where a regressor saved them."""
    meta, state = _load_checked(name_or_path, revision, cache_dir, local_files_only)
    if "head" not in meta:
        raise ValueError(
            f"{name_or_path!r} holds an encoder without a prediction head; load it with "
            "DIMEncoder, or pass it as pretrained= to start a DIMRegressor/DIMClassifier"
        )
    head = meta["head"]
    shape = (head["n_outputs"], head["hidden"], head.get("n_features", 0),
             head.get("site_max", False))
    first = SiteNetPredictor(_encoder(meta, state), *shape)
    first.head.load_state_dict(
        {k[len(HEAD_PREFIX) :]: v for k, v in state.items() if k.startswith(HEAD_PREFIX)},
        strict=True,
    )
    models = [first.eval()]
    for i in range(1, head.get("n_models", 1)):
        prefix = f"{MEMBER_PREFIX}{i}."
        config = head.get("member_models", {}).get(str(i))
        architecture = first.encoder.config if config is None else SiteNetConfig.from_dict(config)
        member = SiteNetPredictor(SiteNetDIM(architecture), *shape)
        member.load_state_dict(
            {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)},
            strict=True,
        )
        models.append(member.eval())
    latents = state.get(LATENTS_KEY)
    return models, head, None if latents is None else latents.numpy()


def push_to_hub(
    model: SiteNetDIM | SiteNetPredictor,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload dimfeaturizer encoder",
    readme: str | None = None,
    extra: dict | None = None,
    members: Sequence[SiteNetPredictor] = (),
    latents: np.ndarray | None = None,
) -> str:
    """Create ``repo_id`` if needed and upload the weights (and a model card); returns the
    commit URL. ``extra``, ``members`` and ``latents`` as in ``save_pretrained``."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(model, tmp, extra, members, latents)
        if readme is not None:
            Path(tmp, "README.md").write_text(readme)
        info = api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message)
    return str(info)
