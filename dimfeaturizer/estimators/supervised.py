"""``DIMRegressor`` and ``DIMClassifier``: transfer learning, the pretrained encoder and a
small head fine-tuned end to end on labels (the paper's second way to use Deep InfoMax)."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .. import hub
from ..data.inputs import as_structure_list, check_all, prepare_all
from ..distributed import join
from ..inference import encode
from ..model import SiteNetPredictor
from ..runtime import derive_seeds
from ..training import Supervised, fit, validation_split
from ..training.supervised import REGRESSION_LOSSES
from ._base import WEIGHTS_CONSTRAINTS, WeightsSource


class _FineTuned(WeightsSource):
    """The fit / predict / persistence machinery both supervised estimators share.

    Subclasses say how targets become the network's outputs (``_encode_targets``) and
    back (``_decode``), and what the head's saved metadata holds.
    """

    _parameter_constraints: dict = {
        **WEIGHTS_CONSTRAINTS,
        "hidden": [Interval(Integral, 1, None, closed="left")],
        "freeze_encoder": ["boolean"],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_sites": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "encoder_learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
    }
    _task: str

    def __init__(
        self,
        pretrained: str | os.PathLike | None = hub.DEFAULT_PRETRAINED,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        config=None,
        hidden: int = 64,
        freeze_encoder: bool = False,
        epochs: int = 200,
        batch_sites: int = 256,
        learning_rate: float = 1e-3,
        encoder_learning_rate: float | None = None,
        weight_decay: float = 1e-4,
        validation_fraction: float = 0.2,
        patience: int = 20,
        device: str = "auto",
        amp: bool = True,
        compile: bool | str = False,
        inference_batch_sites: int = 2048,
        checkpoint_dir: str | os.PathLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        progress: bool | None = None,
    ):
        self.pretrained = pretrained
        self.revision = revision
        self.cache_dir = cache_dir
        self.local_files_only = local_files_only
        self.config = config
        self.hidden = hidden
        self.freeze_encoder = freeze_encoder
        self.epochs = epochs
        self.batch_sites = batch_sites
        self.learning_rate = learning_rate
        self.encoder_learning_rate = encoder_learning_rate
        self.weight_decay = weight_decay
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
    def _fit(self, X, y, objective: Supervised, targets: np.ndarray, n_outputs: int,
             stratify: np.ndarray | None):
        entries, labels = as_structure_list(X)
        if len(entries) != len(targets):
            raise ValueError(f"X has {len(entries)} structures but y has {len(targets)} rows")
        if len(entries) < 2:
            raise ValueError(
                f"fine-tuning needs at least 2 labelled structures, got {len(entries)}"
            )
        model_seed, train_seed = derive_seeds(self.random_state)
        encoder = self._start_encoder(model_seed)
        check_all(entries, labels, encoder.config)
        packed = prepare_all(
            entries, labels, encoder.config, checked=True, world=join()
        ).with_targets(targets)
        model = _with_head(encoder, n_outputs, self.hidden, model_seed)
        config = self._train_config(train_seed)
        split = validation_split(len(packed), self.validation_fraction, train_seed, stratify)
        result = fit(model, objective, packed, config, split=split)
        self.model_: SiteNetPredictor = model.cpu().eval()
        self.config_ = encoder.config
        self.history_, self.best_epoch_ = result.history, result.best_epoch
        self.training_ = self._training_record(result, len(entries), objective)
        return self

    def _objective(self, **kwargs) -> Supervised:
        return Supervised(
            task=self._task,
            encoder_learning_rate=self.encoder_learning_rate,
            head_learning_rate=self.learning_rate,
            freeze_encoder=self.freeze_encoder,
            **kwargs,
        )

    def _outputs(self, X) -> np.ndarray:
        """The head's raw outputs through the shared batched inference path."""
        check_is_fitted(self, "model_")
        entries, labels = as_structure_list(X)
        return encode(
            self.model_,
            entries,
            labels,
            batch_sites=self.inference_batch_sites,
            device=self.device,
            progress=bool(self.progress),
            compile=self.compile is True,
        )

    # -- persistence ---------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write encoder, head and target scaling/classes; ``from_pretrained`` reads them
        back, and ``DIMEncoder(pretrained=directory)`` or another estimator's
        ``pretrained=directory`` takes the fine-tuned encoder."""
        check_is_fitted(self, "model_")
        hub.save_pretrained(self.model_, directory, self._extra())

    def push_to_hub(self, repo_id: str, **kwargs) -> str:
        """Upload as ``save_pretrained`` writes it (kwargs as in ``hub.push_to_hub``)."""
        check_is_fitted(self, "model_")
        return hub.push_to_hub(self.model_, repo_id, extra=self._extra(), **kwargs)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs):
        """The fitted estimator saved by ``save_pretrained`` (kwargs as in ``__init__``)."""
        est = cls(pretrained=name_or_path, **kwargs)
        model, head = hub.load_predictor(
            name_or_path,
            revision=est.revision,
            cache_dir=est.cache_dir,
            local_files_only=est.local_files_only,
        )
        if head.get("task") != cls._task:
            raise ValueError(
                f"{name_or_path!r} holds a {head.get('task')} model, not a {cls._task} model"
            )
        est.model_, est.config_ = model, model.encoder.config
        est.history_, est.best_epoch_, est.training_ = [], -1, None
        est._restore_head(head)
        return est

    def _extra(self) -> dict:
        return {"head": {"task": self._task, **self._head_meta()}, "training": self.training_}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # X is a sequence of pymatgen Structures
        tags.input_tags.one_d_array = True
        return tags


def _with_head(encoder, n_outputs: int, hidden: int, seed: int) -> SiteNetPredictor:
    """The encoder with a freshly initialised head (seeded: same seed, same head)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        return SiteNetPredictor(encoder, n_outputs, hidden)


class DIMRegressor(RegressorMixin, _FineTuned):
    """Structures -> properties: the pretrained Site-Net encoder and a head (global vector
    -> ``hidden`` -> outputs, mish), fine-tuned end to end on the labels.

    Targets are standardised (per output) for training and predictions mapped back.
    Early stopping holds out ``validation_fraction`` of the labels (seeded by
    ``random_state``) and keeps the epoch with the lowest validation loss.

    Parameters
    ----------
    pretrained : str, path or None, default=DEFAULT_PRETRAINED
        Where the encoder starts: the bundled weights, a folder or Hub repo written by
        ``save_pretrained`` (a ``DIMEncoder``'s, or a fitted ``DIMRegressor``'s /
        ``DIMClassifier``'s, whose fine-tuned encoder then starts this fit: supervised
        transfer), or ``None`` for random weights of the same architecture drawn from
        ``random_state`` (the transfer control; pass ``config=DEFAULT_PRETRAINED`` for the
        bundled architecture).
    revision, cache_dir, local_files_only, config
        As in ``DIMEncoder``.
    hidden : int, default=64
        Width of the head's hidden layer.
    freeze_encoder : bool, default=False
        Train the head alone on fixed vectors (the frozen-feature neural baseline).
    loss : {"l1", "mse", "huber"}, default="l1"
        On standardised targets.
    epochs : int, default=200
        Cap on passes over the training labels.
    batch_sites : int, default=256
        Primitive sites per training batch (about 25 MP crystals).
    learning_rate : float, default=1e-3
        The head's learning rate (AdamW, amsgrad), and the encoder's unless
        ``encoder_learning_rate`` is given. Chosen on the protocol's label pool and a
        validation slice of it, against 1e-4 and 3e-4 for the encoder
        (``docs/benchmarks/transfer-defaults/``).
    encoder_learning_rate : float or None, default=None
        The encoder's learning rate (``None``: ``learning_rate``).
    weight_decay : float, default=1e-4
    validation_fraction : float, default=0.2
        Share of the labels held out for early stopping (0: train on all, keep the
        epoch with the lowest training loss).
    patience : int, default=20
        Epochs without a better validation loss before stopping.
    compile : bool or "auto", default=False
        ``torch.compile`` the per-pair kernels: ~15 % faster epochs for ~30 s of
        compilation per fit, worth it only for long runs on many labels; with ``True``
        ``predict`` compiles too.
    device, amp, inference_batch_sites, checkpoint_dir, random_state, progress
        As in ``DIMEncoder``.

    Attributes
    ----------
    model_ : dimfeaturizer.model.SiteNetPredictor
    config_ : SiteNetConfig
    n_outputs_ : int
    target_mean_, target_scale_ : ndarray of shape (n_outputs,)
    history_ : list of dict
        Per-epoch training and validation loss.
    best_epoch_ : int
    training_ : dict
        How the model was fine-tuned (saved into config.json).
    """

    _task = "regression"
    _parameter_constraints: dict = {
        **_FineTuned._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
    }

    def __init__(
        self,
        pretrained: str | os.PathLike | None = hub.DEFAULT_PRETRAINED,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        config=None,
        hidden: int = 64,
        freeze_encoder: bool = False,
        loss: str = "l1",
        epochs: int = 200,
        batch_sites: int = 256,
        learning_rate: float = 1e-3,
        encoder_learning_rate: float | None = None,
        weight_decay: float = 1e-4,
        validation_fraction: float = 0.2,
        patience: int = 20,
        device: str = "auto",
        amp: bool = True,
        compile: bool | str = False,
        inference_batch_sites: int = 2048,
        checkpoint_dir: str | os.PathLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        progress: bool | None = None,
    ):
        super().__init__(
            pretrained, revision=revision, cache_dir=cache_dir,
            local_files_only=local_files_only, config=config, hidden=hidden,
            freeze_encoder=freeze_encoder, epochs=epochs, batch_sites=batch_sites,
            learning_rate=learning_rate, encoder_learning_rate=encoder_learning_rate,
            weight_decay=weight_decay, validation_fraction=validation_fraction,
            patience=patience, device=device, amp=amp, compile=compile,
            inference_batch_sites=inference_batch_sites, checkpoint_dir=checkpoint_dir,
            random_state=random_state, progress=progress,
        )
        self.loss = loss

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y) -> DIMRegressor:
        """Fine-tune on structures ``X`` and targets ``y`` of shape (n,) or (n, k)."""
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2) or not np.isfinite(y).all():
            raise ValueError("y must be a finite 1-D or 2-D array of numbers")
        self._y_1d = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        self.n_outputs_ = y2.shape[1]
        self.target_mean_ = y2.mean(axis=0)
        scale = y2.std(axis=0)
        self.target_scale_ = np.where(scale > 0, scale, 1.0)
        targets = (y2 - self.target_mean_) / self.target_scale_
        return self._fit(X, y, self._objective(loss=self.loss), targets, self.n_outputs_, None)

    def predict(self, X) -> np.ndarray:
        """Predictions, shape (n,) for 1-D ``y`` at fit, else (n, k)."""
        out = self._outputs(X).astype(np.float64) * self.target_scale_ + self.target_mean_
        return out[:, 0] if self._y_1d else out

    def _head_meta(self) -> dict:
        return {
            "target_mean": self.target_mean_.tolist(),
            "target_scale": self.target_scale_.tolist(),
            "target_1d": self._y_1d,
        }

    def _restore_head(self, head: dict) -> None:
        self.target_mean_ = np.asarray(head["target_mean"], dtype=np.float64)
        self.target_scale_ = np.asarray(head["target_scale"], dtype=np.float64)
        self._y_1d = bool(head["target_1d"])
        self.n_outputs_ = len(self.target_mean_)


class DIMClassifier(ClassifierMixin, _FineTuned):
    """Structures -> classes: the pretrained encoder and a head fine-tuned end to end with
    cross-entropy (binary and multiclass; e.g. metal vs non-metal).

    Parameters are those of ``DIMRegressor`` (without ``loss``), plus:

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn.

    Early stopping holds out a stratified ``validation_fraction`` of the labels.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    model_, config_, history_, best_epoch_, training_
        As in ``DIMRegressor``.
    """

    _task = "classification"
    _parameter_constraints: dict = {
        **_FineTuned._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        pretrained: str | os.PathLike | None = hub.DEFAULT_PRETRAINED,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        config=None,
        hidden: int = 64,
        freeze_encoder: bool = False,
        class_weight: dict | str | None = None,
        epochs: int = 200,
        batch_sites: int = 256,
        learning_rate: float = 1e-3,
        encoder_learning_rate: float | None = None,
        weight_decay: float = 1e-4,
        validation_fraction: float = 0.2,
        patience: int = 20,
        device: str = "auto",
        amp: bool = True,
        compile: bool | str = False,
        inference_batch_sites: int = 2048,
        checkpoint_dir: str | os.PathLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        progress: bool | None = None,
    ):
        super().__init__(
            pretrained, revision=revision, cache_dir=cache_dir,
            local_files_only=local_files_only, config=config, hidden=hidden,
            freeze_encoder=freeze_encoder, epochs=epochs, batch_sites=batch_sites,
            learning_rate=learning_rate, encoder_learning_rate=encoder_learning_rate,
            weight_decay=weight_decay, validation_fraction=validation_fraction,
            patience=patience, device=device, amp=amp, compile=compile,
            inference_batch_sites=inference_batch_sites, checkpoint_dir=checkpoint_dir,
            random_state=random_state, progress=progress,
        )
        self.class_weight = class_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y) -> DIMClassifier:
        """Fine-tune on structures ``X`` and class labels ``y`` of shape (n,)."""
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"y has a single class ({self.classes_[0]!r}); need at least 2")
        codes = encoder.transform(y)
        weights = None
        if self.class_weight is not None:
            weights = tuple(
                compute_class_weight(self.class_weight, classes=self.classes_, y=y).tolist()
            )
        objective = self._objective(class_weights=weights)
        return self._fit(X, y, objective, codes.astype(np.float32), len(self.classes_), codes)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), columns in ``classes_`` order."""
        logits = self._outputs(X).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X) -> np.ndarray:
        return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each structure."""
        logits = self._outputs(X)
        return self.classes_[np.argmax(logits, axis=1)]

    def _head_meta(self) -> dict:
        return {"classes": self.classes_.tolist()}

    def _restore_head(self, head: dict) -> None:
        self.classes_ = np.asarray(head["classes"])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags
