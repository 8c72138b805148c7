"""The training loop and what it needs: checkpoints and distributed set-up."""

from .loop import train_run

__all__ = ["train_run"]
