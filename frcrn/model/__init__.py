"""The FRCRN network and its files.

`network` (FRCRN, its UNets), `layers` (complex building blocks), `stft` (the convolutional STFT),
`config` (ModelConfig: the network's shape, as data), `checkpoint` (load/save every supported
format, as untrusted input), `official_layout` (the official state_dict layout <-> native) and
`widen` (grow a trained network into a wider one that computes the same function).
"""

from .checkpoint import DEFAULT_CHECKPOINT, CheckpointError, CheckpointInfo, load_checkpoint, save_checkpoint
from .config import ModelConfig
from .network import FRCRN, FRCRNOutput, compile_for_inference

__all__ = [
    "DEFAULT_CHECKPOINT",
    "FRCRN",
    "CheckpointError",
    "CheckpointInfo",
    "FRCRNOutput",
    "ModelConfig",
    "compile_for_inference",
    "load_checkpoint",
    "save_checkpoint",
]
