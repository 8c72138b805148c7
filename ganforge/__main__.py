"""``python -m ganforge`` (what torchrun runs: ``torchrun --nproc_per_node=N -m ganforge train``)."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while Python is still starting: one line, no traceback
    print("ganforge: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
