"""Hub round trips against the local stand-in (tests/hub_server.py), not mocks.

``huggingface_hub`` reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` once, at import, into
``huggingface_hub.constants``; the ``hub`` fixture therefore patches those constants (and
the environment variables, for anything started later) with ``monkeypatch``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from hub_server import HubServer
from huggingface_hub import HfApi, constants
from huggingface_hub.utils import (
    EntryNotFoundError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from dimfeaturizer import DeepInfoMaxFeaturizer, DIMEncoder
from dimfeaturizer.config import SiteNetConfig
from dimfeaturizer.hub import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    load_config,
    load_pretrained,
    push_to_hub,
    save_pretrained,
)
from dimfeaturizer.model.sitenet import SiteNetDIM


@pytest.fixture
def hub(monkeypatch, tmp_path, tmp_path_factory):
    """A running stand-in Hub that ``huggingface_hub`` talks to; stopped at teardown."""
    server = HubServer().start()
    try:
        url = server.url
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.setattr(constants, "ENDPOINT", url)
        monkeypatch.setattr(
            constants,
            "HUGGINGFACE_CO_URL_TEMPLATE",
            url + "/{repo_id}/resolve/{revision}/{filename}",
        )
        if hasattr(constants, "HF_URL_HOSTS"):
            monkeypatch.setattr(constants, "HF_URL_HOSTS", constants.HF_URL_HOSTS | {"127.0.0.1"})
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        # never read the user's saved token or write to ~/.cache, even by mistake
        monkeypatch.setenv("HF_TOKEN", "hf_standin")
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "default-hf-cache"))
        # upload_folder imports hf_xet (when installed), which picks its log folder once,
        # at import, from HF_XET_CACHE: a folder that lives as long as the test session
        monkeypatch.setenv("HF_XET_CACHE", str(tmp_path_factory.getbasetemp() / "hf-xet"))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def reference(structures):
    """Two random-weight encoders and their vectors of the real structures."""
    first = DIMEncoder(pretrained=None, random_state=0).fit()
    second = DIMEncoder(pretrained=None, random_state=1).fit()
    return first, second, first.transform(structures)


def state(model: SiteNetDIM) -> dict[str, torch.Tensor]:
    return model.state_dict()


def same_weights(a: SiteNetDIM, b: SiteNetDIM) -> bool:
    sa, sb = state(a), state(b)
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def commit_sha(commit_url: str) -> str:
    sha = commit_url.rstrip("/").rsplit("/", 1)[-1]
    assert len(sha) == 40, commit_url
    return sha


def test_push_then_load_gives_the_same_vectors(hub, reference, structures, tmp_path):
    first, _, vectors = reference
    url = first.push_to_hub("org/repo", readme="---\nlibrary_name: dimfeaturizer\n---\n# x\n")
    assert url.startswith(hub.url + "/org/repo/commit/")
    head = hub.repos["org/repo"].find("main")
    assert head.sha == commit_sha(url)
    assert {CONFIG_NAME, WEIGHTS_NAME, "README.md"} <= set(head.files)

    cache = tmp_path / "cache"
    loaded = DIMEncoder(pretrained="org/repo", cache_dir=cache).fit()
    np.testing.assert_array_equal(loaded.transform(structures), vectors)
    assert same_weights(loaded.model_, first.model_)
    # downloaded through the stand-in into the given cache, nowhere else
    assert ("HEAD", f"/org/repo/resolve/main/{CONFIG_NAME}") in hub.requests
    assert ("GET", f"/org/repo/resolve/{head.sha}/{WEIGHTS_NAME}") in hub.requests
    assert (cache / "models--org--repo" / "snapshots" / head.sha / WEIGHTS_NAME).is_file()
    assert not (tmp_path / "default-hf-cache").exists()


def test_revision_pinning(hub, reference, tmp_path):
    first, second, _ = reference
    sha1 = commit_sha(first.push_to_hub("org/repo"))
    sha2 = commit_sha(second.push_to_hub("org/repo", commit_message="second"))
    assert sha1 != sha2
    cache = tmp_path / "cache"

    def load(**kwargs) -> SiteNetDIM:
        return DIMEncoder(pretrained="org/repo", cache_dir=cache, **kwargs).fit().model_

    assert same_weights(load(revision=sha1), first.model_)
    assert same_weights(load(), second.model_)
    assert same_weights(load(revision="main"), second.model_)
    assert same_weights(load(revision=sha2), second.model_)
    assert not same_weights(first.model_, second.model_)  # the test can tell them apart

    with pytest.raises(ValueError, match="'org/repo' has no revision 'v9'") as info:
        load(revision="v9")
    assert isinstance(info.value.__cause__, RevisionNotFoundError)


def test_cache_is_reused_offline(hub, reference, monkeypatch, tmp_path):
    first, second, _ = reference
    first.push_to_hub("org/repo")
    cache = tmp_path / "cache"
    DIMEncoder(pretrained="org/repo", cache_dir=cache).fit()  # the one download
    second.push_to_hub("org/repo")  # main moves on; offline loads must not notice

    hub.requests.clear()
    offline = DIMEncoder(pretrained="org/repo", cache_dir=cache, local_files_only=True).fit()
    assert same_weights(offline.model_, first.model_)
    assert hub.requests == []

    with monkeypatch.context() as m:  # what HF_HUB_OFFLINE=1 at startup gives
        m.setenv("HF_HUB_OFFLINE", "1")
        m.setattr(constants, "HF_HUB_OFFLINE", True)
        model = load_pretrained("org/repo", cache_dir=cache)
        assert same_weights(model, first.model_)
        assert hub.requests == []
        with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE") as info:
            load_pretrained("org/repo", cache_dir=tmp_path / "empty")
        assert isinstance(info.value.__cause__, LocalEntryNotFoundError)

    hub.stop()  # no server at all: the cached snapshot of main still loads
    assert same_weights(load_pretrained("org/repo", cache_dir=cache), first.model_)
    with pytest.raises(FileNotFoundError, match="'org/repo'.*local_files_only=True"):
        DIMEncoder(pretrained="org/repo", cache_dir=tmp_path / "empty", local_files_only=True).fit()
    # an uncached load from a stopped server fails at once (no ~20 s of client retries)
    t0 = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="could not be reached"):
        DIMEncoder(pretrained="org/repo", cache_dir=tmp_path / "empty2").fit()
    assert time.perf_counter() - t0 < 10


def test_missing_repo_is_a_clear_error(hub, tmp_path):
    with pytest.raises(ValueError, match="no repository 'org/nope'") as info:
        DIMEncoder(pretrained="org/nope", cache_dir=tmp_path).fit()
    assert isinstance(info.value.__cause__, RepositoryNotFoundError)
    assert ("HEAD", f"/org/nope/resolve/main/{CONFIG_NAME}") in hub.requests
    hub.requests.clear()
    with pytest.raises(FileNotFoundError, match="'no/such/folder': no such folder"):
        DIMEncoder(pretrained="no/such/folder", cache_dir=tmp_path).fit()
    with pytest.raises(ValueError, match="'sitenet-typo' is not a bundled model"):
        DIMEncoder(pretrained="sitenet-typo", cache_dir=tmp_path).fit()
    assert hub.requests == []  # told apart from a repo id without asking the Hub


@pytest.mark.parametrize("missing", [WEIGHTS_NAME, CONFIG_NAME])
def test_missing_file_is_a_clear_error(hub, reference, tmp_path, missing):
    folder = save_pretrained(reference[0].model_, tmp_path / "upload")
    (folder / missing).unlink()
    api = HfApi()
    api.create_repo("org/partial")
    api.upload_folder(repo_id="org/partial", folder_path=folder)
    assert missing not in hub.repos["org/partial"].find("main").files

    with pytest.raises(ValueError, match=f"'org/partial' has no file '{missing}'") as info:
        DIMEncoder(pretrained="org/partial", cache_dir=tmp_path / "cache").fit()
    assert isinstance(info.value.__cause__, EntryNotFoundError)


def test_corrupted_download_is_refused(hub, reference, tmp_path):
    folder = save_pretrained(reference[0].model_, tmp_path / "upload")
    weights = folder / WEIGHTS_NAME
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes: only the SHA-256 can tell
    weights.write_bytes(bytes(data))
    api = HfApi()
    api.create_repo("org/bad")
    api.upload_folder(repo_id="org/bad", folder_path=folder)

    with pytest.raises(ValueError, match=r"model\.safetensors is corrupted: SHA-256"):
        DIMEncoder(pretrained="org/bad", cache_dir=tmp_path / "cache").fit()


def test_featurizer_pushes_and_loads(hub, reference, structures, tmp_path):
    first, _, vectors = reference
    pushed = DeepInfoMaxFeaturizer(DIMEncoder(pretrained=None, random_state=0)).fit()
    pushed.encoder_.push_to_hub("org/feat")

    lazy = DeepInfoMaxFeaturizer(DIMEncoder(pretrained="org/feat", cache_dir=tmp_path / "cache"))
    assert lazy.feature_labels()[:2] == ["dim_0", "dim_1"]  # loads the weights on first use
    assert not hasattr(lazy, "encoder_")  # using it changed nothing on the featuriser
    assert same_weights(lazy.fit().encoder_.model_, first.model_)
    # one structure alone is batched differently than in `vectors`: float rounding only
    np.testing.assert_allclose(lazy.featurize(structures[0]), vectors[0], rtol=0, atol=1e-6)
    eager = DeepInfoMaxFeaturizer(
        DIMEncoder("org/feat", cache_dir=tmp_path / "cache", local_files_only=True)
    ).fit()
    rows = eager.featurize_many(structures, pbar=False)
    np.testing.assert_array_equal(np.asarray(rows, dtype=np.float32), vectors)

    eager.encoder_.save_pretrained(tmp_path / "saved")
    assert same_weights(load_pretrained(tmp_path / "saved"), first.model_)


def test_sitenet_save_push_and_load(hub, reference, tmp_path):
    model = reference[0].model_
    folder = save_pretrained(model, tmp_path / "local")
    assert {p.name for p in folder.iterdir()} == {CONFIG_NAME, WEIGHTS_NAME}
    local = load_pretrained(folder)
    assert isinstance(local, SiteNetDIM) and not local.training
    assert same_weights(local, model)

    sha = commit_sha(push_to_hub(model, "org/net"))
    remote = load_pretrained("org/net", revision=sha, cache_dir=tmp_path / "cache")
    assert same_weights(remote, model)
    assert remote.config == model.config


def test_load_config_fetches_only_the_config(hub, tmp_path):
    """The benchmark's untrained control needs the architecture, not the weights."""
    config = SiteNetConfig(post_pool_hidden=96)
    wide = DIMEncoder(pretrained=None, config=config, random_state=0).fit()
    wide.push_to_hub("org/wide")
    hub.requests.clear()
    config = load_config("org/wide", cache_dir=tmp_path / "cache")
    assert config == wide.model_.config
    assert config.post_pool_hidden == 96
    fetched = {path.rsplit("/", 1)[-1] for _, path in hub.requests}
    assert CONFIG_NAME in fetched and WEIGHTS_NAME not in fetched
    # the estimator's config= takes the repo id directly: the control of those weights
    hub.requests.clear()
    control = DIMEncoder(
        pretrained=None, config="org/wide", cache_dir=tmp_path / "cache2", random_state=0
    ).fit()
    assert control.config_ == config
    assert same_weights(control.model_, wide.model_)
    fetched = {path.rsplit("/", 1)[-1] for _, path in hub.requests}
    assert CONFIG_NAME in fetched and WEIGHTS_NAME not in fetched


def test_fine_tuned_models_push_and_load(hub, structures, mp_entries, tmp_path):
    """A DIMRegressor / DIMClassifier on the Hub: identical predictions after the round
    trip, and its fine-tuned encoder is what DIMEncoder and supervised transfer load."""
    from dimfeaturizer import DIMClassifier, DIMRegressor

    fast = dict(pretrained=None, epochs=2, device="cpu", random_state=0, n_models=1)
    y = np.array([e["e_form"] for e in mp_entries.values()])
    regressor = DIMRegressor(**fast).fit(structures, y)
    regressor.push_to_hub("org/eform")
    loaded = DIMRegressor.from_pretrained("org/eform", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(loaded.predict(structures), regressor.predict(structures))
    np.testing.assert_array_equal(loaded.training_latents_, regressor.training_latents_)
    encoder = DIMEncoder(pretrained="org/eform", cache_dir=tmp_path / "cache").fit()
    assert same_weights(encoder.model_, regressor.model_.encoder)

    metal = np.array([e["gap"] == 0 for e in mp_entries.values()])
    classifier = DIMClassifier(**{**fast, "pretrained": "org/eform"},
                               cache_dir=tmp_path / "cache").fit(structures, metal)
    classifier.push_to_hub("org/metal")
    again = DIMClassifier.from_pretrained("org/metal", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.predict_proba(structures),
                                  classifier.predict_proba(structures))
    assert again.classes_.tolist() == [False, True]
