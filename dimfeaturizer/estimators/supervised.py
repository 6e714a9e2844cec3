"""``DIMRegressor`` and ``DIMClassifier``: transfer learning, the pretrained encoder and a
small head fine-tuned end to end on labels (the paper's second way to use Deep InfoMax)."""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import replace
from numbers import Integral, Real
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.preprocessing import LabelEncoder, PowerTransformer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .. import hub
from ..data.inputs import as_structure_list, check_all, prepare_all
from ..distributed import join
from ..inference import encode, encode_packed
from ..model import SiteNetPredictor
from ..runtime import member_seeds, on_device
from ..training import Supervised, fit, validation_split
from ..training.loop import SCHEDULES
from ..training.supervised import LOG_SCALE_CLIP, REGRESSION_LOSSES
from ._base import WEIGHTS_CONSTRAINTS, WeightsSource, json_start
from .composition import CompositionFeatures
from .novelty import Novelty

COMPOSITION_CLIP = 5.0  # standardised composition columns are clipped to +-5 (the protocol's)
TARGET_TRANSFORMS = ("standard", "power")
# a power-transformed model may predict this far (in standardised units) beyond the
# training targets before its outputs are clipped back into the inverse's domain
TARGET_MARGIN = 1.0
# batch_sites="auto": this many primitive sites per batch (about 27 MP crystals; twice the
# per-crystal throughput of 256 on two cores), fewer where a training set would otherwise
# give fewer than MIN_BATCHES optimiser steps per epoch (32, not 16: better in matbench
# phonons' training folds on two seeds, level on jdft2d's and on the MP validation slice)
AUTO_BATCH_SITES = 512
MIN_BATCHES = 32
# where the encoder starts: one set of weights (None: random), or several for the members
# to start from in turn
Starts = str | os.PathLike | tuple[str | os.PathLike, ...] | list[str | os.PathLike] | None
# the fine-tuning defaults of both estimators, in one place (the schedule, the ensemble
# and validation_fraction were chosen on the MP protocol's validation slice, site_max and
# the members' two starts on matbench's training folds: benchmarks/results/transfer-defaults/)
FINE_TUNING = {
    "pretrained": (hub.DEFAULT_PRETRAINED, hub.GEOMETRY_PRETRAINED),
    "hidden": 64,
    "freeze_encoder": False,
    "epochs": 50,
    "batch_sites": "auto",
    "learning_rate": 2e-3,
    "encoder_learning_rate": None,
    "weight_decay": 1e-4,
    "validation_fraction": 0.0,
    "patience": 20,
    "learning_rate_schedule": "cosine",
    "head_epochs": 0,
    "adapt_epochs": 0,
    "n_models": 5,
    "composition": False,
    "site_max": True,
}


class _FineTuned(WeightsSource):
    """The fit / predict / persistence machinery both supervised estimators share.

    Subclasses say how targets become the network's outputs (``_encode_targets``) and
    back (``_decode``), and what the head's saved metadata holds.
    """

    _parameter_constraints: dict = {
        **WEIGHTS_CONSTRAINTS,
        "pretrained": [*WEIGHTS_CONSTRAINTS["pretrained"], tuple, list],
        "hidden": [Interval(Integral, 1, None, closed="left")],
        "freeze_encoder": ["boolean"],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_sites": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "encoder_learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "learning_rate_schedule": [StrOptions(set(SCHEDULES))],
        "head_epochs": [Interval(Integral, 0, None, closed="left")],
        "adapt_epochs": [Interval(Integral, 0, None, closed="left")],
        "n_models": [Interval(Integral, 1, None, closed="left")],
        "composition": ["boolean"],
        "site_max": ["boolean"],
        "n_jobs": [Integral, None],
    }
    _task: str

    def _train_config(self, seed: int, training_sites: int):
        """The loop's settings for one member; ``batch_sites="auto"`` is
        ``AUTO_BATCH_SITES``, or ``training_sites`` (its training split's primitive sites)
        over ``MIN_BATCHES`` where that is fewer, so small sets keep enough steps."""
        batch_sites = self.batch_sites
        if batch_sites == "auto":
            batch_sites = max(1, min(AUTO_BATCH_SITES, training_sites // MIN_BATCHES))
        return super()._train_config(seed, batch_sites=batch_sites,
                                     learning_rate_schedule=self.learning_rate_schedule)

    # -- fitting -------------------------------------------------------------------
    def _fit(self, X, objective: Supervised, targets: np.ndarray, n_outputs: int,
             stratify: np.ndarray | None, unlabelled=None) -> dict:
        """Train every member; returns the fitted attributes, assigned by the caller only
        once everything succeeded (so a fit that raises, or is interrupted, leaves a
        fitted estimator exactly as it was)."""
        entries, labels = as_structure_list(X)
        if len(entries) != len(targets):
            raise ValueError(f"X has {len(entries)} structures but y has {len(targets)} rows")
        if len(entries) < 2:
            raise ValueError(
                f"fine-tuning needs at least 2 labelled structures, got {len(entries)}"
            )
        seeds = member_seeds(self.random_state, self.n_models)
        starts = self._member_starts()
        encoders = self._start_encoders(starts, [seed for seed, _ in seeds])
        config = encoders[0].config
        _check_same_inputs(encoders, starts)
        check_all(entries, labels, config)
        distinct = list(dict.fromkeys(starts))
        if self.adapt_epochs:  # each start adapted once; its members begin from that copy
            extra, extra_labels = ([], []) if unlabelled is None else as_structure_list(unlabelled)
            check_all(extra, [f"unlabelled {lab}" for lab in extra_labels], config)
            adapted = {start: self._adapt(entries + extra, seeds[0][0], start,
                                          "adapt" if len(distinct) == 1 else f"adapt/start-{j}")
                       for j, start in enumerate(distinct)}  # fmt: skip
            encoders = [copy.deepcopy(adapted[start]) for start in starts]
        fitted: dict = {"composition_mean_": None, "composition_scale_": None}
        features = None
        if self.composition:
            raw = _composition(entries)
            mean, scale = _column_stats(raw)
            fitted.update(composition_mean_=mean, composition_scale_=scale)
            features = _standardise(raw, mean, scale)
        # preprocessing once, shared by every member
        packed = prepare_all(
            entries, labels, config, checked=True, world=join()
        ).with_targets(targets).with_features(features)
        n_features = 0 if features is None else features.shape[1]
        jobs = []
        for i, ((model_seed, train_seed), encoder) in enumerate(zip(seeds, encoders)):
            model = _with_head(encoder, n_outputs, self.hidden, model_seed, n_features,
                               self.site_max)
            split = validation_split(len(packed), self.validation_fraction, train_seed, stratify)
            train = self._train_config(train_seed, int(packed.n_prim[split[0]].sum()))
            if self.n_models > 1 and train.checkpoint_dir is not None:
                folder = Path(train.checkpoint_dir) / f"member-{i}"
                train = replace(train, checkpoint_dir=str(folder))
            jobs.append((model, train, split))
        n_workers = min(joblib.effective_n_jobs(self.n_jobs), len(jobs))
        threads = max(1, torch.get_num_threads() // n_workers)
        trained = joblib.Parallel(n_jobs=n_workers)(
            joblib.delayed(_train_member)(model, objective, packed, train, split,
                                          self.head_epochs, threads if n_workers > 1 else None)
            for model, train, split in jobs
        )  # fmt: skip
        models = [model.cpu().eval() for model, _ in trained]
        results = [result for _, result in trained]
        record = self._training_record(results[0], len(entries), objective)
        record.update(head_epochs=self.head_epochs, adapt_epochs=self.adapt_epochs,
                      started_from=json_start(distinct if len(distinct) > 1 else distinct[0]))
        record["members"] = [
            {"best_epoch": r.best_epoch, "epochs_run": len(r.history),
             "batch_sites": train.batch_sites}
            for r, (_, train, _) in zip(results, jobs)
        ]  # fmt: skip
        fitted.update(
            models_=models, model_=models[0], config_=config,
            history_=results[0].history, best_epoch_=results[0].best_epoch, training_=record,
        )  # fmt: skip
        settings = self._inference()
        if self._task == "regression":  # where each member puts the crystals it was given
            fitted["training_latents_"] = np.stack([
                _hidden_layer(model, packed, settings) for model in models
            ]) if self.n_models > 1 or self.learned_std else None  # fmt: skip
        # each member's raw outputs on its own held-out crystals (already prepared), for a
        # score in the target's units; not a fitted attribute: the caller pops it
        fitted["_validation"] = []
        for model, (_, _, (_, held_out)) in zip(models, jobs):
            if not len(held_out):  # validation_fraction=0: nothing held out
                continue
            with on_device(model, settings["device"]) as device:
                raw = encode_packed(model, packed.subset(held_out), settings["batch_sites"],
                                    device)  # fmt: skip
            fitted["_validation"].append((raw, held_out))
        return fitted

    def _set_fitted(self, fitted: dict) -> None:
        fitted.pop("_validation", None)
        vars(self).update(fitted)

    def _member_starts(self) -> list:
        """Each member's start: ``pretrained``, or a sequence's entries in turn."""
        if not isinstance(self.pretrained, (tuple, list)):
            return [self.pretrained] * self.n_models
        if not self.pretrained or any(p is None for p in self.pretrained):
            raise ValueError(
                f"pretrained={self.pretrained!r}: a sequence needs at least one entry and "
                "holds weights only (pass None alone for random weights)"
            )
        return [self.pretrained[i % len(self.pretrained)] for i in range(self.n_models)]

    def _start_encoders(self, starts: list, model_seeds: list[int]) -> list:
        """Each member's starting encoder: each set of weights read once and copied, random
        weights drawn per member."""
        loaded: dict = {}
        encoders = []
        for start, seed in zip(starts, model_seeds):
            if start is None:
                encoders.append(self._start_encoder(None, seed))
                continue
            if start not in loaded:
                loaded[start] = self._start_encoder(start, seed)
            encoders.append(copy.deepcopy(loaded[start]))
        return encoders

    def _adapt(self, entries: list, seed: int, pretrained: str | os.PathLike | None,
               folder: str):
        """Domain-adaptive pretraining: ``adapt_epochs`` of Deep InfoMax (the encoder's
        own objective and defaults) on the user's structures, from ``pretrained``
        (checkpointed under ``checkpoint_dir/folder``)."""
        from .encoder import DIMEncoder

        adapter = DIMEncoder(
            pretrained=pretrained, revision=self.revision, cache_dir=self.cache_dir,
            local_files_only=self.local_files_only, config=self.config, frozen=False,
            epochs=self.adapt_epochs, device=self.device, amp=self.amp, compile=self.compile,
            checkpoint_dir=None if self.checkpoint_dir is None
            else Path(self.checkpoint_dir) / folder,
            random_state=seed, progress=self.progress,
        )  # fmt: skip
        return adapter.fit(entries).model_

    def _objective(self, **kwargs) -> Supervised:
        return Supervised(
            task=self._task,
            encoder_learning_rate=self.encoder_learning_rate,
            head_learning_rate=self.learning_rate,
            freeze_encoder=self.freeze_encoder,
            **kwargs,
        )

    def _outputs(self, X, with_hidden: bool = False) -> np.ndarray:
        """``(n_models, n, n_outputs)``: every member's raw outputs through the shared
        batched inference path (composition computed once for all members);
        ``with_hidden``: each member's hidden layer after them."""
        check_is_fitted(self, "models_")
        entries, labels = as_structure_list(X)
        features = None
        if self.composition_mean_ is not None:
            check_all(entries, labels, self.config_)
            raw = _composition(entries)
            features = _standardise(raw, self.composition_mean_, self.composition_scale_)
        settings = self._inference()
        return np.stack([encode(model, entries, labels, features=features,
                                with_hidden=with_hidden, **settings)
                         for model in self.models_])  # fmt: skip

    # -- persistence ---------------------------------------------------------------
    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write encoder, head and target scaling/classes; ``from_pretrained`` reads them
        back, and ``DIMEncoder(pretrained=directory)`` or another estimator's
        ``pretrained=directory`` takes the fine-tuned encoder."""
        check_is_fitted(self, "models_")
        hub.save_pretrained(self.models_[0], directory, self._extra(), self.models_[1:],
                            self._latents())  # fmt: skip

    def push_to_hub(self, repo_id: str, **kwargs) -> str:
        """Upload as ``save_pretrained`` writes it (kwargs as in ``hub.push_to_hub``)."""
        check_is_fitted(self, "models_")
        return hub.push_to_hub(self.models_[0], repo_id, extra=self._extra(),
                               members=self.models_[1:], latents=self._latents(), **kwargs)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs):
        """The fitted estimator saved by ``save_pretrained`` (kwargs as in ``__init__``)."""
        est = cls(pretrained=name_or_path, **kwargs)
        models, head, latents = hub.load_predictors(
            name_or_path,
            revision=est.revision,
            cache_dir=est.cache_dir,
            local_files_only=est.local_files_only,
        )
        if head.get("task") != cls._task:
            raise ValueError(
                f"{name_or_path!r} holds a {head.get('task')} model, not a {cls._task} model"
            )
        est.models_, est.model_, est.config_ = models, models[0], models[0].encoder.config
        est.history_, est.best_epoch_, est.training_ = [], -1, None
        if cls._task == "regression":  # None from a release before them: the spread alone
            est.training_latents_ = latents
        est.n_models = len(models)
        est.site_max = models[0].site_max
        composition = head.get("composition")
        est.composition = composition is not None
        est.composition_mean_ = None if composition is None else np.asarray(composition["mean"])
        est.composition_scale_ = None if composition is None else np.asarray(composition["scale"])
        est._restore_head(head)
        return est

    def _latents(self) -> np.ndarray | None:
        """A regressor's training latents (the std's distances), saved with its weights."""
        return getattr(self, "training_latents_", None)

    def _extra(self) -> dict:
        head = {"task": self._task, **self._head_meta()}
        if self.composition_mean_ is not None:
            head["composition"] = {
                "preset": "magpie",
                "mean": self.composition_mean_.tolist(),
                "scale": self.composition_scale_.tolist(),
            }
        return {"head": head, "training": self.training_}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # X is a sequence of pymatgen Structures
        tags.input_tags.one_d_array = True
        return tags


def _check_same_inputs(encoders: list, starts: list) -> None:
    """The members share one preprocessing, so every start must build its inputs alike."""
    first = encoders[0].config.input_fields()
    for encoder, start in zip(encoders[1:], starts[1:]):
        if encoder.config.input_fields() != first:
            raise ValueError(
                f"pretrained {start!r} builds its inputs with {encoder.config.input_fields()}, "
                f"{starts[0]!r} with {first} (max_sites, max_cell_sites, symprec): the "
                "members of one ensemble share their preprocessing"
            )


def _hidden_layer(model, packed, settings: dict) -> np.ndarray:
    """``(n, hidden)``: the head's hidden layer on prepared crystals."""
    with on_device(model, settings["device"]) as device:
        raw = encode_packed(model, packed, settings["batch_sites"], device, with_hidden=True)
    return raw[:, model.n_outputs:]


def _with_head(
    encoder, n_outputs: int, hidden: int, seed: int, n_features: int = 0,
    site_max: bool = False,
) -> SiteNetPredictor:
    """The encoder with a freshly initialised head (seeded: same seed, same head)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        return SiteNetPredictor(encoder, n_outputs, hidden, n_features, site_max)


def _train_member(model, objective, packed, config, split, head_epochs: int,
                  threads: int | None):
    """One member's fit (in a worker process when members train in parallel, with its
    share of the cores): the head alone on the frozen encoder for up to ``head_epochs``
    (linear probe, then fine-tune), then everything."""
    if threads is not None:
        torch.set_num_threads(threads)
    if head_epochs:
        probe = replace(config, epochs=head_epochs, checkpoint_dir=None
                        if config.checkpoint_dir is None
                        else str(Path(config.checkpoint_dir) / "head"))  # fmt: skip
        fit(model, replace(objective, freeze_encoder=True), packed, probe, split=split)
    result = fit(model, objective, packed, config, split=split)
    return model, result


def _power(lambdas: np.ndarray) -> PowerTransformer:
    """A Yeo-Johnson transformer with known exponents (as fitted, or read back)."""
    power = PowerTransformer(standardize=False)
    power.lambdas_, power.n_features_in_ = np.asarray(lambdas, dtype=np.float64), len(lambdas)
    return power


def _to_targets(outputs: np.ndarray, mean: np.ndarray, scale: np.ndarray,
               lambdas: np.ndarray | None, bounds: tuple) -> np.ndarray:
    """Raw outputs ``(n, k)`` unstandardised and, with Yeo-Johnson ``lambdas``, mapped back
    through the inverse transform; outputs more than ``TARGET_MARGIN`` beyond the training
    targets' standardised ``bounds`` are clipped, and any still outside the inverse's
    domain fall back to the training range."""
    z = outputs.astype(np.float64)
    if lambdas is None:
        return z * scale + mean
    low, high = bounds
    z = np.clip(z, low - TARGET_MARGIN, high + TARGET_MARGIN)
    power = _power(lambdas)
    with warnings.catch_warnings():  # NaN beyond the inverse's domain: handled below
        warnings.simplefilter("ignore", UserWarning)
        y = power.inverse_transform(z * scale + mean)
    bad = ~np.isfinite(y)
    if bad.any():
        y[bad] = power.inverse_transform(np.clip(z, low, high) * scale + mean)[bad]
    return y


def _composition(entries: list) -> np.ndarray:
    """Magpie descriptors of each structure's composition (NaN where untabulated)."""
    return CompositionFeatures().fit().transform(entries)


def _column_stats(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation over the training rows, ignoring NaN
    (0 and 1 for a column that is all NaN or constant)."""
    with warnings.catch_warnings():  # an all-NaN column warns; it becomes (0, 1) below
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, scale = np.nanmean(raw, axis=0), np.nanstd(raw, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    return mean, scale


def _standardise(raw: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Standardised, missing values at the training mean (0), clipped to
    ±``COMPOSITION_CLIP``: an element unseen in training cannot blow the head up."""
    z = np.nan_to_num((raw - mean) / scale, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(z, -COMPOSITION_CLIP, COMPOSITION_CLIP).astype(np.float32)


class DIMRegressor(RegressorMixin, _FineTuned):
    """Structures -> properties: the pretrained Site-Net encoder and a head (global vector
    -> ``hidden`` -> outputs, mish), fine-tuned end to end on the labels.

    Targets are standardised (per output) for training and predictions mapped back.
    Every member trains on every label for the whole schedule by default; with
    ``validation_fraction`` > 0 each holds out its own share (seeded by ``random_state``)
    and keeps the epoch with the lowest validation loss.

    Parameters
    ----------
    pretrained : str, path, sequence of them, or None, \
            default=(DEFAULT_PRETRAINED, GEOMETRY_PRETRAINED)
        Where the encoder starts: bundled weights, a folder or Hub repo written by
        ``save_pretrained`` (a ``DIMEncoder``'s, or a fitted ``DIMRegressor``'s /
        ``DIMClassifier``'s, whose fine-tuned encoder then starts this fit: supervised
        transfer), or ``None`` for random weights of the same architecture drawn from
        ``random_state`` (the transfer control; pass ``config=DEFAULT_PRETRAINED`` for the
        bundled architecture). A tuple or list: member ``i`` starts from entry ``i``
        modulo its length (their preprocessing must agree; ``config`` then fits none of
        them: leave it unset). By default members alternate between the
        two bundled encoders (member 0, and a single model, from the default weights):
        each was the better start on one matbench task, and in their training folds the
        mix beat the default weights alone on phonons on two seeds and was level (+1.2 %)
        and better (−1.3 %) on jdft2d. ``GEOMETRY_PRETRAINED`` alone is
        worth a try for a property set by bond lengths and stiffness (phonons).
    revision, cache_dir, local_files_only, config
        As in ``DIMEncoder``.
    hidden : int, default=64
        Width of the head's hidden layer.
    freeze_encoder : bool, default=False
        Train the head alone on fixed vectors (the frozen-feature neural baseline).
    loss : {"l1", "mse", "huber"}, default="l1"
        On standardised targets.
    learned_std : bool, default=False
        Each member also learns the size of its own error, crystal by crystal (a second
        output per target trained on the Laplace likelihood of the prediction's error, the
        prediction itself trained as without it; CrabNet's learned σ), and
        ``predict(X, return_std=True)`` adds it to the members' (distance-scaled) spread,
        so one model can report a std too.
    target_transform : {"standard", "power"}, default="standard"
        How targets become the network's outputs: standardised, or Yeo-Johnson
        power-transformed first (scikit-learn's ``PowerTransformer``, its exponent fitted
        on the training targets), for skewed positive properties such as frequencies or
        energies above a floor. Each member's prediction is mapped back before the
        ensemble's mean and std are taken.
    epochs : int, default=50
        Passes over the training labels: the cosine schedule's length (under a constant
        schedule, a cap).
    batch_sites : int or "auto", default="auto"
        Primitive sites per training batch. ``"auto"``: 512 (about 27 MP crystals), fewer
        where that would give fewer than 32 batches per epoch, so small sets of small
        crystals still take enough optimiser steps (32 rather than 16: 12-13 % better in
        matbench phonons' training folds, level on jdft2d's and on the MP validation
        slice, 2-4 % worse on the MP band gap at 50-100 labels).
    learning_rate : float, default=2e-3
        The head's learning rate (AdamW, amsgrad), and the encoder's unless
        ``encoder_learning_rate`` is given. The fine-tuning schedule (this rate, ``"auto"``
        batches, a 50-epoch cosine) was chosen on the protocol's label pool and a
        validation slice of it (``benchmarks/results/transfer-defaults/``).
    encoder_learning_rate : float or None, default=None
        The encoder's learning rate (``None``: ``learning_rate``).
    weight_decay : float, default=1e-4
    validation_fraction : float, default=0.0
        Share of the labels each member holds out for early stopping and for
        ``training_["validation_mae"]`` (0: train on all, keep the epoch with the lowest
        training loss, the schedule's end in practice). Every label in every member was
        better in 12 of 12 subsets of the protocol's validation slice (median -4 %,
        against a fifth held out); pass 0.2 to compare options on held-out labels.
    patience : int, default=20
        Epochs without a better validation loss before stopping.
    learning_rate_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` decays every learning rate to zero over ``epochs``; early stopping
        (``patience``) still keeps the best epoch.
    head_epochs : int, default=0
        Linear probe, then fine-tune: train the head alone on the frozen encoder for up to
        this many epochs (early stopping as below) before training everything.
    adapt_epochs : int, default=0
        Domain-adaptive pretraining: this many epochs of Deep InfoMax on the training
        structures (and ``fit``'s ``unlabelled`` ones) before fine-tuning, so the encoder
        first adapts to the user's materials without labels.
    n_models : int, default=5
        Members of a deep ensemble: each starts from its own head (and, with
        ``pretrained=None``, its own encoder draw) and batch order (and, with
        ``validation_fraction``, its own held-out split), all seeded by ``random_state``;
        predictions are the members' mean and ``predict(X, return_std=True)`` gives their
        spread times how far each crystal lies from the training crystals (``predict``).
        Preprocessing is shared. Five members were better than one in 11 of 12
        subsets of the protocol's validation slice (up to 9 % at N = 1000) at 3-4 times
        the fit time (``benchmarks/results/transfer-defaults/``); ``n_models=1`` for one
        quick model.
    composition : bool, default=False
        Feed the head matminer's magpie descriptors of each composition
        (``CompositionFeatures``, standardised on the training structures) beside the
        crystal vector, trained end to end.
    site_max : bool, default=True
        The head also reads each pooled site feature's largest value over the crystal's
        sites beside the mean vector, for properties set by one extreme environment (the
        highest phonon frequency: the stiffest bond to the lightest atom). Chosen on the
        matbench tasks' in-fold validation (phonons 56.0 -> 41.4 cm⁻¹, jdft2d 41.4 ->
        39.7 meV/atom, one model); on the MP protocol's validation slice, properties of the
        pretraining crystals, it is 3-7 % worse at N = 1000: pass ``False`` there.
    n_jobs : int or None, default=None
        Members trained at once, in processes (joblib's convention: ``None`` is 1, ``-1``
        all cores); torch's threads are shared out between them.
    compile : bool or "auto", default=False
        ``torch.compile`` the per-pair kernels (with ``True``, ``predict`` too). On CPU
        eager is as fast or faster since it computes each distinct bond once (see
        ``DIMEncoder``); compiling may still pay on a GPU.
    device, amp, inference_batch_sites, checkpoint_dir, random_state, progress
        As in ``DIMEncoder``.

    Attributes
    ----------
    models_ : list of dimfeaturizer.model.SiteNetPredictor
        The ensemble's members (one unless ``n_models`` > 1).
    model_ : dimfeaturizer.model.SiteNetPredictor
        The first member.
    config_ : SiteNetConfig
    n_outputs_ : int
    target_mean_, target_scale_ : ndarray of shape (n_outputs,)
        Standardisation of the (power-transformed) targets.
    target_lambdas_ : ndarray of shape (n_outputs,) or None
        The Yeo-Johnson exponents (``target_transform="power"``).
    composition_mean_, composition_scale_ : ndarray of shape (n_descriptors,) or None
        The standardisation of the composition descriptors (``None`` without
        ``composition``).
    training_latents_ : ndarray of shape (n_models, n_train, hidden) or None
        Each member's hidden layer on the training crystals, the reference of the std's
        distance factor (saved with the weights). ``None`` for one model without
        ``learned_std`` (no std to scale), and when loaded from a release that did not keep
        them (the std is then the spread alone).
    history_ : list of dict
        Per-epoch training and validation loss (of the first member).
    best_epoch_ : int
    training_ : dict
        How the model was fine-tuned (saved into config.json).
    """

    _task = "regression"
    _parameter_constraints: dict = {
        **_FineTuned._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
        "target_transform": [StrOptions(set(TARGET_TRANSFORMS))],
        "learned_std": ["boolean"],
    }

    def __init__(
        self,
        pretrained: Starts = FINE_TUNING["pretrained"],
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        config=None,
        hidden: int = FINE_TUNING["hidden"],
        freeze_encoder: bool = FINE_TUNING["freeze_encoder"],
        loss: str = "l1",
        learned_std: bool = False,
        target_transform: str = "standard",
        epochs: int = FINE_TUNING["epochs"],
        batch_sites: int | str = FINE_TUNING["batch_sites"],
        learning_rate: float = FINE_TUNING["learning_rate"],
        encoder_learning_rate: float | None = FINE_TUNING["encoder_learning_rate"],
        weight_decay: float = FINE_TUNING["weight_decay"],
        validation_fraction: float = FINE_TUNING["validation_fraction"],
        patience: int = FINE_TUNING["patience"],
        learning_rate_schedule: str = FINE_TUNING["learning_rate_schedule"],
        head_epochs: int = FINE_TUNING["head_epochs"],
        adapt_epochs: int = FINE_TUNING["adapt_epochs"],
        n_models: int = FINE_TUNING["n_models"],
        composition: bool = FINE_TUNING["composition"],
        site_max: bool = FINE_TUNING["site_max"],
        n_jobs: int | None = None,
        device: str = "auto",
        amp: bool = True,
        compile: bool | str = False,
        inference_batch_sites: int = 2048,
        checkpoint_dir: str | os.PathLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        progress: bool | None = None,
    ):
        self._keep_parameters(locals())

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, unlabelled=None) -> DIMRegressor:
        """Fine-tune on structures ``X`` and targets ``y`` of shape (n,) or (n, k);
        ``unlabelled`` structures join ``X`` in domain-adaptive pretraining
        (``adapt_epochs``)."""
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2) or not np.isfinite(y).all():
            raise ValueError("y must be a finite 1-D or 2-D array of numbers")
        y2 = y.reshape(len(y), -1)
        lambdas = None
        z = y2
        if self.target_transform == "power":
            power = PowerTransformer(standardize=False).fit(y2)
            lambdas, z = power.lambdas_, power.transform(y2)
        mean, scale = z.mean(axis=0), z.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        standardised = (z - mean) / scale
        k = y2.shape[1]
        objective = self._objective(loss=self.loss, learned_std=self.learned_std)
        n_outputs = 2 * k if self.learned_std else k  # predictions, then their log-scales
        fitted = self._fit(X, objective, standardised, n_outputs, None, unlabelled)
        fitted.update(
            n_outputs_=y2.shape[1], target_mean_=mean, target_scale_=scale,
            target_lambdas_=lambdas, _y_1d=y.ndim == 1,
            _target_bounds=(standardised.min(axis=0), standardised.max(axis=0)),
        )  # fmt: skip
        bounds = fitted["_target_bounds"]
        fitted["training_"]["validation_mae"] = [
            float(np.mean(np.abs(_to_targets(raw[:, :k], mean, scale, lambdas, bounds)
                                 - y2[rows])))
            for raw, rows in fitted["_validation"]
        ]
        self._set_fitted(fitted)
        return self

    def _decode(self, outputs: np.ndarray) -> np.ndarray:
        """Standardised predictions ``(n, k)`` in the target's units."""
        return _to_targets(outputs, self.target_mean_, self.target_scale_,
                           self.target_lambdas_, self._target_bounds)  # fmt: skip

    def _member(self, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """One member's prediction and, with ``learned_std``, the std of its Laplace error
        (sqrt(2) times its scale) in the target's units: half the distance between the
        prediction ± that std mapped back (exact for the standardised target, the delta
        method's width for the power transform)."""
        k = self.n_outputs_
        prediction = self._decode(outputs[:, :k])
        if outputs.shape[1] == k:
            return prediction, None
        log_scale = np.clip(outputs[:, k:].astype(np.float64), -LOG_SCALE_CLIP, LOG_SCALE_CLIP)
        spread = np.sqrt(2.0) * np.exp(log_scale)
        z = outputs[:, :k].astype(np.float64)
        return prediction, np.abs(self._decode(z + spread) - self._decode(z - spread)) / 2

    def _novelty(self) -> Novelty | None:
        """The std's distance reference for the fitted latents, built on first use (a
        nearest-neighbour index over the training crystals) and kept until they change."""
        latents = self._latents()
        if latents is None:
            return None
        cached = getattr(self, "_novelty_reference", None)
        if cached is None or cached.training is not latents:
            cached = self._novelty_reference = Novelty(latents)
        return cached

    @property
    def _learns_std(self) -> bool:
        """Whether the members' heads also output their error's log-scale (``learned_std``):
        read off the fitted or loaded heads, so saved models need no extra key."""
        return self.models_[0].n_outputs > self.n_outputs_

    @property
    def has_std(self) -> bool:
        """Whether ``predict(X, return_std=True)`` has a std to give: an ensemble's spread,
        or members that learned their own error (``learned_std``); fitted models only."""
        check_is_fitted(self, "models_")
        return len(self.models_) > 1 or self._learns_std

    def predict(self, X, return_std: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predictions, shape (n,) for 1-D ``y`` at fit, else (n, k): the members' mean.

        ``return_std=True`` also returns a standard deviation (same shape; scikit-learn's
        ``GaussianProcessRegressor`` convention): the members' spread times how far each
        crystal lies from the crystals given to ``fit``, in the members' hidden layers
        (``Novelty``: about 1 for a crystal like them, near 0 for one of them, so judge the
        std on crystals the model was not fitted on), and with ``learned_std`` that
        combined with the members' own error distributions (sqrt((spread x factor)² + mean
        of their variances)). The factor ranked formation-energy errors better than the
        spread alone on the Materials Project protocol's validation slice (Spearman 0.24 ->
        0.29 at N = 250). It needs ``n_models >= 2`` or ``learned_std``.
        """
        check_is_fitted(self, "models_")
        if return_std and not self.has_std:
            raise ValueError(
                "return_std=True needs an ensemble (n_models >= 2) or learned_std=True: "
                "one model has no spread to report"
            )
        reference = self._novelty() if return_std else None
        raw = self._outputs(X, with_hidden=reference is not None)
        width = self.models_[0].n_outputs
        predictions, stds = zip(*(self._member(outputs[:, :width]) for outputs in raw))
        members = np.stack(predictions)
        mean, std = members.mean(axis=0), members.std(axis=0)
        if reference is not None:  # the members' disagreement, scaled by the crystal's distance
            std = std * reference(raw[:, :, width:])[:, None]
        if self._learns_std:  # the mixture's std: that and the members' own errors
            std = np.sqrt(std**2 + np.mean(np.stack(stds) ** 2, axis=0))
        if self._y_1d:
            mean, std = mean[:, 0], std[:, 0]
        return (mean, std) if return_std else mean

    def _head_meta(self) -> dict:
        meta = {
            "target_mean": self.target_mean_.tolist(),
            "target_scale": self.target_scale_.tolist(),
            "target_1d": self._y_1d,
        }
        if self.target_lambdas_ is not None:
            meta["target_power"] = {
                "lambdas": self.target_lambdas_.tolist(),
                "bounds": [b.tolist() for b in self._target_bounds],
            }
        return meta

    def _restore_head(self, head: dict) -> None:
        self.target_mean_ = np.asarray(head["target_mean"], dtype=np.float64)
        self.target_scale_ = np.asarray(head["target_scale"], dtype=np.float64)
        self._y_1d = bool(head["target_1d"])
        self.n_outputs_ = len(self.target_mean_)
        self.learned_std = self._learns_std
        power = head.get("target_power")
        self.target_transform = "standard" if power is None else "power"
        self.target_lambdas_ = None if power is None else np.asarray(power["lambdas"])
        self._target_bounds = None if power is None else tuple(
            np.asarray(b, dtype=np.float64) for b in power["bounds"])


class DIMClassifier(ClassifierMixin, _FineTuned):
    """Structures -> classes: the pretrained encoder and a head fine-tuned end to end with
    cross-entropy (binary and multiclass; e.g. metal vs non-metal).

    Parameters are those of ``DIMRegressor`` (without ``loss``, ``learned_std`` and
    ``target_transform``), plus:

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn.

    With ``validation_fraction`` > 0, early stopping holds out a stratified share of the
    labels.

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
        pretrained: Starts = FINE_TUNING["pretrained"],
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        config=None,
        hidden: int = FINE_TUNING["hidden"],
        freeze_encoder: bool = FINE_TUNING["freeze_encoder"],
        class_weight: dict | str | None = None,
        epochs: int = FINE_TUNING["epochs"],
        batch_sites: int | str = FINE_TUNING["batch_sites"],
        learning_rate: float = FINE_TUNING["learning_rate"],
        encoder_learning_rate: float | None = FINE_TUNING["encoder_learning_rate"],
        weight_decay: float = FINE_TUNING["weight_decay"],
        validation_fraction: float = FINE_TUNING["validation_fraction"],
        patience: int = FINE_TUNING["patience"],
        learning_rate_schedule: str = FINE_TUNING["learning_rate_schedule"],
        head_epochs: int = FINE_TUNING["head_epochs"],
        adapt_epochs: int = FINE_TUNING["adapt_epochs"],
        n_models: int = FINE_TUNING["n_models"],
        composition: bool = FINE_TUNING["composition"],
        site_max: bool = FINE_TUNING["site_max"],
        n_jobs: int | None = None,
        device: str = "auto",
        amp: bool = True,
        compile: bool | str = False,
        inference_batch_sites: int = 2048,
        checkpoint_dir: str | os.PathLike | None = None,
        random_state: int | np.random.RandomState | None = None,
        progress: bool | None = None,
    ):
        self._keep_parameters(locals())

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, unlabelled=None) -> DIMClassifier:
        """Fine-tune on structures ``X`` and class labels ``y`` of shape (n,);
        ``unlabelled`` as in ``DIMRegressor.fit``."""
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        classes = encoder.classes_
        if len(classes) < 2:
            raise ValueError(f"y has a single class ({classes[0]!r}); need at least 2")
        codes = encoder.transform(y)
        weights = None
        if self.class_weight is not None:
            weights = tuple(
                compute_class_weight(self.class_weight, classes=classes, y=y).tolist()
            )
        objective = self._objective(class_weights=weights)
        fitted = self._fit(X, objective, codes.astype(np.float32), len(classes), codes,
                           unlabelled)
        fitted["classes_"] = classes
        self._set_fitted(fitted)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), columns in ``classes_`` order: the
        members' mean probability."""
        logits = self._outputs(X).astype(np.float64)
        logits -= logits.max(axis=2, keepdims=True)
        p = np.exp(logits)
        return (p / p.sum(axis=2, keepdims=True)).mean(axis=0)

    def predict_log_proba(self, X) -> np.ndarray:
        return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each structure."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def _head_meta(self) -> dict:
        return {"classes": self.classes_.tolist()}

    def _restore_head(self, head: dict) -> None:
        self.classes_ = np.asarray(head["classes"])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags
