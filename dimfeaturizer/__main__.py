"""``python -m dimfeaturizer``: the command line (also under ``torchrun -m dimfeaturizer``)."""

from .cli import main

raise SystemExit(main())
