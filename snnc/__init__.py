"""snnc: a compiler toolchain for trained spiking neural networks.

ONNX models of spiking networks (``snn`` operator domain, see ``docs/onnx-format.md``) are
imported into a spiking graph IR (:mod:`snnc.ir`), transformed by passes (:mod:`snnc.passes`)
and executed or compiled by backends (:mod:`snnc.backends`).
"""

from snnc.api import load_model, run
from snnc.errors import SnncError

__version__ = "0.1.0"
__all__ = ["SnncError", "__version__", "load_model", "run"]
