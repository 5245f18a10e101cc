"""Deep Image Prior engine: PyTorch + NumPy only (never Qt). See docs/engine-api.md."""
from .config import NetConfig, RunConfig
from .errors import DIPError

__all__ = ["NetConfig", "RunConfig", "DIPError"]
