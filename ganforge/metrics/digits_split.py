"""The fixed train/held-out split of mnist-mini used to train and test the digits extractor
(it lives with the data, which the digit translation pair also holds out by it)."""

from ..data.builtin import heldout_split

__all__ = ["heldout_split"]
