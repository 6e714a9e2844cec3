"""``DIMEncoder``: the scikit-learn face of the encoder."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import hub
from .config import SiteNetConfig
from .inference import as_structure_list, check_all, encode, prepare_all
from .training import FALSE_SAMPLE_KINDS, TrainConfig, pretrain

# bundled in pretrained/; "preview": does not yet beat the untrained control on e_form
# (docs/pretraining.md)
DEFAULT_PRETRAINED = "sitenet-dim-mp25k-wide-2026.11-preview"


def feature_names(n: int) -> list[str]:
    return [f"dim_{i}" for i in range(n)]


# for per-row callers (matminer's precheck): a Hub name would otherwise mean a request a row
_cached_load_config = functools.lru_cache(maxsize=16)(hub.load_config)


class DIMBase(BaseEstimator):
    """Parameters, fitting and persistence shared by both front-ends.

    ``DIMEncoder`` and ``DeepInfoMaxFeaturizer`` inherit it: same parameters, one training
    path, one inference path (``_encode``). Parameters are documented on ``DIMEncoder``.
    """

    def __init__(
        self,
        pretrained: str | os.PathLike | None = DEFAULT_PRETRAINED,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        frozen: bool = True,
        config: SiteNetConfig | str | os.PathLike | None = None,
        epochs: int = 100,
        batch_sites: int = 1200,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-4,
        alpha: float = 1.0,
        beta: float = 0.1,
        false_samples: Sequence[str] = FALSE_SAMPLE_KINDS,
        pair_weighting: str = "inverse_square",
        validation_fraction: float = 0.1,
        patience: int = 10,
        device: str = "auto",
        amp: bool = True,
        compile: bool | str = "auto",
        inference_batch_sites: int = 2048,
        checkpoint_dir: str | os.PathLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        progress: bool = False,
    ):
        self.pretrained = pretrained
        self.revision = revision
        self.cache_dir = cache_dir
        self.local_files_only = local_files_only
        self.frozen = frozen
        self.config = config
        self.epochs = epochs
        self.batch_sites = batch_sites
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.alpha = alpha
        self.beta = beta
        self.false_samples = false_samples
        self.pair_weighting = pair_weighting
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.amp = amp
        self.compile = compile
        self.inference_batch_sites = inference_batch_sites
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.progress = progress

    # -- fitting -------------------------------------------------------------------
    def fit(self, X=None, y=None):
        """Load (frozen) or pretrain (``frozen=False``) the encoder. ``y`` is ignored."""
        rng = check_random_state(self.random_state)
        model_seed, train_seed = (int(s) for s in rng.randint(0, 2**31 - 1, size=2))
        model = self._initial_model(model_seed)
        self.history_, self.best_epoch_ = [], -1
        if not self.frozen:
            if X is None:
                raise ValueError("frozen=False: fit(X) pretrains on X, which must be given")
            entries, labels = as_structure_list(X)
            check_all(entries, labels, model.config)
            packed = prepare_all(entries, labels, model.config, checked=True)
            result = pretrain(model, packed, self._train_config(train_seed))
            self.history_, self.best_epoch_ = result.history, result.best_epoch
        self.model_ = model.cpu().eval()
        self.config_ = model.config
        return self

    def _architecture(self, cached: bool = False) -> SiteNetConfig | None:
        """``config`` as a ``SiteNetConfig``; a name or path means that model's architecture
        (``cached``: remembered per process, for per-row callers such as ``precheck``)."""
        if self.config is None or isinstance(self.config, SiteNetConfig):
            return self.config
        if isinstance(self.config, (str, os.PathLike)):
            load = _cached_load_config if cached else hub.load_config
            return load(
                self.config,
                revision=self.revision,
                cache_dir=self.cache_dir,
                local_files_only=self.local_files_only,
            )
        raise TypeError(
            f"config must be a SiteNetConfig, a model name or path, or None; "
            f"got {type(self.config).__name__}"
        )

    def _initial_model(self, seed: int):
        config = self._architecture()
        if self.pretrained is None:
            return hub.untrained_model(config, seed)
        model = hub.load_pretrained(
            self.pretrained,
            revision=self.revision,
            cache_dir=self.cache_dir,
            local_files_only=self.local_files_only,
        )
        if config is not None and config != model.config:
            raise ValueError(
                "config differs from the architecture of the pretrained weights; "
                "pass config only with pretrained=None"
            )
        return model

    def _train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_sites=self.batch_sites,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            alpha=self.alpha,
            beta=self.beta,
            false_samples=tuple(self.false_samples),
            pair_weighting=self.pair_weighting,
            validation_fraction=self.validation_fraction,
            patience=self.patience,
            device=self.device,
            amp=self.amp,
            compile=self.compile,
            seed=seed,
            checkpoint_dir=None if self.checkpoint_dir is None else str(self.checkpoint_dir),
            progress=self.progress,
        )

    # -- persistence ---------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write the fitted weights where ``DIMEncoder(pretrained=directory)`` loads them."""
        check_is_fitted(self, "model_")
        hub.save_pretrained(self.model_, directory)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs):
        """A fitted, frozen encoder with the given weights (kwargs as in ``__init__``)."""
        return cls(pretrained=name_or_path, **kwargs).fit()

    def push_to_hub(self, repo_id: str, **kwargs) -> str:
        check_is_fitted(self, "model_")
        return hub.push_to_hub(self.model_, repo_id, **kwargs)

    def _encode(self, entries, labels=None) -> np.ndarray:
        check_is_fitted(self, "model_")
        return encode(
            self.model_,
            entries,
            labels,
            batch_sites=self.inference_batch_sites,
            device=self.device,
            progress=self.progress,
        )


class DIMEncoder(TransformerMixin, DIMBase):
    """Crystal structures -> 128-d Site-Net features learned by Deep InfoMax.

    By default the encoder is **frozen**: ``fit`` loads the weights named by
    ``pretrained`` and does not look at ``X``, so a ``Pipeline([("dim", DIMEncoder()),
    ("ridge", Ridge())])`` fitted on 50 labelled crystals costs nothing extra. With
    ``frozen=False``, ``fit(X)`` runs self-supervised Deep InfoMax pretraining on the
    unlabelled structures ``X``, starting from ``pretrained`` (or from random weights when
    ``pretrained=None``).

    Parameters
    ----------
    pretrained : str, path or None, default=DEFAULT_PRETRAINED
        A bundled model name, a folder written by ``save_pretrained``, or a Hugging Face
        Hub repo id. ``None`` means random weights drawn from ``random_state``: with
        ``frozen=True`` that is the *untrained control* of the paper, an essential
        baseline for any claim about the pretrained features.
    revision, cache_dir, local_files_only
        Passed to the Hub download (pin ``revision`` to a commit for reproducibility).
    frozen : bool, default=True
        If True ``fit`` only loads/initialises weights; if False it pretrains on ``X``.
    config : SiteNetConfig, str, path or None
        Architecture of a randomly initialised model (``pretrained=None``). A model name
        or path (as for ``pretrained``) means that model's architecture, so
        ``DIMEncoder(pretrained=None, config=DEFAULT_PRETRAINED, random_state=0)`` is the
        untrained control of the bundled weights. ``None``: the design's defaults.
    epochs, batch_sites, learning_rate, weight_decay, alpha, beta, false_samples,
    pair_weighting, validation_fraction, patience, amp, compile, checkpoint_dir
        Pretraining hyper-parameters (see ``dimfeaturizer.training.TrainConfig``);
        ``compile`` uses ``torch.compile`` for ~2x faster CPU training ("auto": for
        runs of at least 20,000 structure-epochs; falls back to eager if it fails);
        ``false_samples=()`` switches the synthetic false samples off (the ablation);
        adding ``"substitution"`` opts in to the periodic-table-neighbour false sample.
    device : {"auto", "cpu", "cuda", ...}, default="auto"
    inference_batch_sites : int, default=2048
        Primitive sites per inference batch (memory ~ this x 50 x 256 floats).
    random_state : int, RandomState or None
        Seeds the random initialisation and pretraining (bit-reproducible on CPU).
    progress : bool, default=False
        Progress bars for pretraining and transform.

    Attributes
    ----------
    model_ : dimfeaturizer.model.SiteNetDIM
        The network (on CPU between calls).
    config_ : SiteNetConfig
    history_ : list of dict
        Per-epoch train/validation losses of the last pretraining (empty if frozen).
    best_epoch_ : int
        Epoch whose weights were kept (-1 if frozen).

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.69), ["Na", "Cl"],
    ...                                  [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> DIMEncoder(pretrained=None, random_state=0).fit_transform([nacl]).shape
    (1, 128)
    """

    def transform(self, X) -> np.ndarray:
        """``(n, 128)`` float32 features; raises ``StructureError`` naming a bad entry."""
        entries, labels = as_structure_list(X)
        return self._encode(entries, labels)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray(feature_names(self.config_.global_dim), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # X is a sequence of pymatgen Structures
        tags.input_tags.one_d_array = True
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = []
        return tags
