"""``DIMEncoder``: the scikit-learn transformer, frozen vectors or Deep InfoMax pretraining."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .. import hub
from ..data.inputs import as_structure_list, check_all, prepare_all
from ..distributed import join
from ..inference import encode, encode_or_collect
from ..model import SiteNetDIM
from ..runtime import derive_seeds
from ..training import FALSE_SAMPLE_KINDS, DeepInfoMax, fit
from ..training.deep_infomax import GEOMETRY_SCALES
from ._base import WEIGHTS_CONSTRAINTS, WeightsSource, feature_names


class DIMEncoder(TransformerMixin, WeightsSource):
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
        A bundled model name, a folder written by ``save_pretrained`` (of any of the
        package's estimators: a fine-tuned ``DIMRegressor``'s encoder loads too), or a
        Hugging Face Hub repo id. ``None`` means random weights drawn from
        ``random_state``: with ``frozen=True`` that is the *untrained control* of the
        paper, an essential baseline for any claim about the pretrained features.
    revision, cache_dir, local_files_only
        Passed to the Hub download (pin ``revision`` to a commit for reproducibility).
    frozen : bool, default=True
        If True ``fit`` only loads/initialises weights; if False it pretrains on ``X``.
    config : SiteNetConfig, str, path or None
        Architecture of a randomly initialised model (``pretrained=None``). A model name
        or path (as for ``pretrained``) means that model's architecture, so
        ``DIMEncoder(pretrained=None, config=DEFAULT_PRETRAINED, random_state=0)`` is the
        untrained control of the bundled weights. ``None``: the design's defaults.
    epochs, batch_sites, learning_rate, weight_decay, validation_fraction, patience, amp, \
compile, checkpoint_dir
        How to pretrain (see ``dimfeaturizer.training.TrainConfig``); ``compile`` uses
        ``torch.compile`` for the per-pair kernels ("auto": on a GPU, for runs of at
        least 20,000 structure-epochs; falls back to eager if it fails). Eager code
        computes each distinct bond once, which compiled graphs cannot (static shapes),
        so on CPU eager is the faster: 295 against 169 structures/s pretraining, and
        ``compile=True``'s ``transform`` is slower too (``benchmarks/results/speed.md``).
    alpha, beta, false_samples, displacement, strain
        What to pretrain (see ``dimfeaturizer.training.DeepInfoMax``):
        ``false_samples=()`` switches the synthetic false samples off (the ablation);
        adding ``"displacement"`` / ``"strain"`` opts in to the crystal's own species on a
        perturbed geometry (sites moved by ``displacement`` Å per axis, or the lattice
        strained by ``strain``), which the critics must reject.
    device : {"auto", "cpu", "cuda", ...}, default="auto"
    inference_batch_sites : int, default=2048
        Primitive sites per inference batch (memory ~ this x 50 x 256 floats).
    random_state : int, RandomState or None
        Seeds the random initialisation and pretraining (bit-reproducible on CPU).
    progress : bool or None, default=None
        Progress bars. ``None``: training shows its epochs' bars where the output is a
        terminal (tqdm's auto mode) and ``transform`` none; True/False: both or neither.
        Each epoch is also logged at INFO through ``logging`` (logger
        ``dimfeaturizer.training.loop``), for notebooks and batch jobs.

    Attributes
    ----------
    model_ : dimfeaturizer.model.SiteNetDIM
        The network (on CPU between calls).
    config_ : SiteNetConfig
    history_ : list of dict
        Per-epoch train/validation losses of the last pretraining (empty if frozen).
    best_epoch_ : int
        Epoch whose weights were kept (-1 if frozen).
    training_ : dict or None
        How the weights were pretrained by this ``fit`` (saved into config.json by
        ``save_pretrained``); None if frozen.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.69), ["Na", "Cl"],
    ...                                  [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> DIMEncoder(pretrained=None, random_state=0).fit_transform([nacl]).shape
    (1, 128)
    """

    _parameter_constraints: dict = {
        **WEIGHTS_CONSTRAINTS,
        "frozen": ["boolean"],
        "epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_sites": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "beta": [Interval(Real, 0, None, closed="left")],
        "false_samples": [list, tuple],
        "displacement": [Interval(Real, 0, None, closed="neither")],
        "strain": [Interval(Real, 0, None, closed="neither")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        pretrained: str | os.PathLike | None = hub.DEFAULT_PRETRAINED,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        frozen: bool = True,
        config=None,
        epochs: int = 100,
        batch_sites: int = 1200,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-4,
        alpha: float = 1.0,
        beta: float = 0.1,
        false_samples: tuple[str, ...] = FALSE_SAMPLE_KINDS,
        displacement: float = GEOMETRY_SCALES["displacement"],
        strain: float = GEOMETRY_SCALES["strain"],
        validation_fraction: float = 0.1,
        patience: int = 10,
        device: str = "auto",
        amp: bool = True,
        compile: bool | str = "auto",
        inference_batch_sites: int = 2048,
        checkpoint_dir: str | os.PathLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        progress: bool | None = None,
    ):
        self._keep_parameters(locals())

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None) -> DIMEncoder:
        """Load (frozen) or pretrain (``frozen=False``) the encoder. ``y`` is ignored."""
        model_seed, train_seed = derive_seeds(self.random_state)
        objective = DeepInfoMax(alpha=self.alpha, beta=self.beta,
                                false_samples=tuple(self.false_samples),
                                displacement=self.displacement, strain=self.strain)
        model = self._start_encoder(self.pretrained, model_seed)
        history, best_epoch, training = [], -1, None  # assigned once the fit succeeded
        if not self.frozen:
            if X is None:
                raise ValueError("frozen=False: fit(X) pretrains on X, which must be given")
            entries, labels = as_structure_list(X)
            if len(entries) < 2:
                raise ValueError(
                    f"pretraining needs at least 2 structures (Deep InfoMax contrasts each "
                    f"crystal with another), got {len(entries)}"
                )
            check_all(entries, labels, model.config)
            packed = prepare_all(entries, labels, model.config, checked=True, world=join(),
                                 vectors=objective.needs_vectors)
            result = fit(model, objective, packed, self._train_config(train_seed))
            history, best_epoch = result.history, result.best_epoch
            training = self._training_record(result, len(entries), objective)
        self.history_, self.best_epoch_, self.training_ = history, best_epoch, training
        self.model_: SiteNetDIM = model.cpu().eval()
        self.config_ = model.config
        return self

    def transform(self, X) -> np.ndarray:
        """``(n, 128)`` float32 features (the config's ``vector_dim``); raises
        ``StructureError`` naming a bad entry."""
        entries, labels = as_structure_list(X)
        return self._encode(entries, labels)

    def _encode(self, entries, labels=None) -> np.ndarray:
        check_is_fitted(self, "model_")
        return encode(self.model_, entries, labels, **self._inference())

    def transform_or_collect(
        self, X, *, progress: bool | None = None
    ) -> tuple[np.ndarray, dict[int, BaseException]]:
        """Like ``transform``, but an entry that fails gives a NaN row instead of stopping
        the others: ``(n, 128)`` vectors and each failed entry's exception by position
        (the path of matminer's ``ignore_errors``, the CLI's ``--ignore-errors`` and the
        Dask featuriser). ``progress``: a bar (``None``: the estimator's setting)."""
        check_is_fitted(self, "model_")
        entries, _ = as_structure_list(X)
        settings = self._inference()
        if progress is not None:
            settings["progress"] = progress
        return encode_or_collect(self.model_, entries, **settings)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "model_")
        return np.asarray(feature_names(self.config_.vector_dim), dtype=object)

    # -- persistence ---------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write the fitted weights where ``DIMEncoder(pretrained=directory)`` loads them
        (with how they were pretrained, if this ``fit`` pretrained them)."""
        check_is_fitted(self, "model_")
        hub.save_pretrained(self.model_, directory, self._extra())

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs) -> DIMEncoder:
        """A fitted, frozen encoder with the given weights (kwargs as in ``__init__``)."""
        return cls(pretrained=name_or_path, **kwargs).fit()

    def push_to_hub(self, repo_id: str, **kwargs) -> str:
        """Upload the fitted weights (kwargs as in ``dimfeaturizer.hub.push_to_hub``)."""
        check_is_fitted(self, "model_")
        return hub.push_to_hub(self.model_, repo_id, extra=self._extra(), **kwargs)

    def _extra(self) -> dict:
        return {} if self.training_ is None else {"training": self.training_}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # X is a sequence of pymatgen Structures
        tags.input_tags.one_d_array = True
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = []
        return tags
