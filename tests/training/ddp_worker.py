"""Run by ``torchrun`` from ``test_distributed.py``: tiny data-parallel pretraining of a
random-weight encoder on the fixture crystals; every rank writes its final weights and
its history so that the test can compare the ranks."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import torch
from pymatgen.core import Structure

from dimfeaturizer import DIMEncoder, DIMRegressor

warnings.filterwarnings("ignore")
torch.set_num_threads(1)
out, batch_sites, epochs = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
data = json.loads((Path(__file__).parents[1] / "structures" / "mp_structures.json").read_text())
entries = sorted(data.values(), key=lambda e: len(e["structure"]["sites"]))[:10]
structures = [Structure.from_dict(e["structure"]) for e in entries]
rank = int(os.environ.get("RANK", "0"))
if len(sys.argv) > 4 and sys.argv[4] == "packing":  # sharded preprocessing, gathered
    import numpy as np
    from pymatgen.core import Lattice

    from dimfeaturizer import SiteNetConfig, StructureError
    from dimfeaturizer.data.inputs import prepare_all
    from dimfeaturizer.distributed import World, join

    labels = list(range(len(structures)))
    shared = prepare_all(structures, labels, SiteNetConfig(), world=join())
    alone = prepare_all(structures, labels, SiteNetConfig(), world=World())
    same = all(np.array_equal(getattr(shared, k), getattr(alone, k))
               for k in ("n_prim", "n_super", "species", "distances"))
    # an impossible crystal at position 3 (rank 1's share): every rank must raise it
    overlap = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0, 0, 0.01]])
    try:
        prepare_all([*structures[:3], overlap, *structures[3:]], [*labels, 99], SiteNetConfig(),
                    world=join())
        message = None
    except StructureError as err:
        message = str(err)
    (out / f"packing-{rank}.json").write_text(json.dumps({"same": same, "error": message}))
    sys.exit(0)
if len(sys.argv) > 4 and sys.argv[4] == "regressor":  # fine-tuning, the same way
    model = DIMRegressor(pretrained=None, epochs=epochs, batch_sites=batch_sites,
                         progress=False, device="cpu", random_state=0, n_models=1)
    model.fit(structures, [e["e_form"] for e in entries])
    (out / f"predictions-{rank}.json").write_text(json.dumps(
        {"predictions": model.predict(structures).tolist(), "history": model.history_}))
    sys.exit(0)
encoder = DIMEncoder(pretrained=None, frozen=False, epochs=epochs, batch_sites=batch_sites,
                     validation_fraction=0.2, progress=False, device="cpu", amp=False,
                     compile=False, random_state=0, checkpoint_dir=str(out / "ckpt"))
encoder.fit(structures)
torch.save(encoder.model_.state_dict(), out / f"weights-{rank}.pt")
(out / f"history-{rank}.json").write_text(json.dumps(
    {"history": encoder.history_, "ranks": encoder.training_["ranks"]}))
