"""The YOSO neuromorphic accelerator backend: hardware description, compiler, deployment.

Public API:

* :func:`load_hardware` / :class:`Hardware` - the hardware description file (``yoso-6x7.toml`` shipped);
* :func:`compile_yoso` / :class:`CompileResult` - the pipeline (:mod:`snnc.backends.yoso.passes`) and the
  deployment directory; :class:`YosoPlan` - the compile state the passes hand on;
* :func:`load_deployment` / :func:`inspect_deployment` - read back and verify a deployment;
* :class:`YosoBackend` - the backend registered as ``yoso``.

See ``docs/yoso.md``.
"""

from snnc.backends.yoso.backend import YosoBackend
from snnc.backends.yoso.compile import CompileResult, compile_yoso, spike_statistics
from snnc.backends.yoso.deploy import Deployment, inspect_deployment, load_deployment
from snnc.backends.yoso.hardware import DEFAULT_HARDWARE, Hardware, load_hardware, parse_hardware
from snnc.backends.yoso.plan import YosoPlan

__all__ = ["DEFAULT_HARDWARE", "CompileResult", "Deployment", "Hardware", "YosoBackend", "YosoPlan", "compile_yoso",
           "inspect_deployment", "load_deployment", "load_hardware", "parse_hardware", "spike_statistics"]
