"""``python -m ganforge`` (what torchrun runs: ``torchrun --nproc_per_node=N -m ganforge train``)."""

from .cli import main

raise SystemExit(main())
