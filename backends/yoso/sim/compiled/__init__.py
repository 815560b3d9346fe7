"""The compiled simulator core (issue 16): the mesh network, the PE cores and the time-step rule of
:mod:`snnc.backends.yoso.sim` as numba kernels over flat NumPy state, bit-identical to the Python model.

Modules: :mod:`.jit` (numba import and its cache directory), :mod:`.noc_kernel` (the network cycle, injection and
ejection), :mod:`.noc` (trace replay on the kernel), :mod:`.chip_kernel` (one image of a deployment: host
injection, PE updates and synapse events, end-of-step protocol, barrier), :mod:`.chip` (:class:`CompiledChip`,
the engine selection). numba is imported only when a kernel is first needed, never at package import.
"""
