"""Per-PE memory images: the initial contents of a PE's four SRAMs and its configuration.

Weight SRAM layout (``docs/yoso.md``, "Memory images"):

* dense PE holding neurons ``lo .. hi-1`` (``n_local = hi - lo``) of a layer with ``m`` inputs:
  word ``i * n_local + j`` holds ``w_q[lo + j, i]`` (input-major, so one incoming spike on input ``i``
  reads the contiguous run ``i * n_local .. i * n_local + n_local - 1``);
* conv PE storing the kernels of output channels ``c0 .. c1-1``: word
  ``((c - c0) * C_in/group + ci) * kh * kw + ky * kw + kx`` holds ``w_q[c, ci, ky, kx]``.

Words past the block are zero. The potential and accumulated-weight SRAMs start at zero (the state
before step 0), the spike-address queue empty (zeros). Thresholds, biases and the input map are the
PE's configuration registers (``config.json``); which registers a neuron has (its threshold, a reset
mode) its entry in :mod:`snnc.backends.yoso.neurons` says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from snnc.backends.yoso.hardware import Hardware
from snnc.backends.yoso.layers import Layer
from snnc.backends.yoso.neurons import yoso_neuron
from snnc.backends.yoso.partition import LayerPlan, PESlice
from snnc.backends.yoso.routing import Source
from snnc.errors import DeploymentError

SRAM_FILES = {"weight": "weight.npy", "potential": "potential.npy", "acc_weight": "acc_weight.npy",
              "spike_addr": "spike_addr.npy"}


def sram_dtype(bits: int, signed: bool = True) -> np.dtype:
    """The smallest NumPy integer type holding ``bits``-bit words."""
    for size, (s, u) in ((8, (np.int8, np.uint8)), (16, (np.int16, np.uint16)), (32, (np.int32, np.uint32))):
        if bits <= size:
            return np.dtype(s if signed else u)
    return np.dtype(np.int64 if signed else np.uint64)


@dataclass
class PEImage:
    """One PE's configuration and SRAM contents."""

    config: dict[str, Any]
    srams: dict[str, np.ndarray]

    @property
    def id(self) -> int:
        return int(self.config["pe"])


def weight_block(layer: Layer, pe: PESlice) -> np.ndarray:
    """The PE's weights in weight-SRAM word order (see the module docstring)."""
    w = layer.weight_matrix()
    if layer.kind == "dense":
        return np.ascontiguousarray(w[pe.lo:pe.hi, :].T).reshape(-1)
    c0, c1 = pe.channels
    return np.ascontiguousarray(w[c0:c1]).reshape(-1)


def _per_neuron(values: np.ndarray, layer: Layer, pe: PESlice) -> list[int]:
    full = np.broadcast_to(values, layer.neuron.result.type.features).reshape(-1)
    return [int(v) for v in full[pe.lo:pe.hi]]


def build_image(layer: Layer, pe: PESlice, sources: list[Source], hw: Hardware) -> PEImage:
    """The memory image of one PE.

    Raises:
        DeploymentError: float (unquantized) weights, or a weight that does not fit the weight word.
    """
    syn, neuron = layer.synapse, layer.neuron
    entry = yoso_neuron(neuron.opname)
    w = syn.attrs["weight"]
    where = f"%{layer.name} (PE {pe.id})"
    if not np.issubdtype(w.dtype, np.integer):
        raise DeploymentError(f"layer %{layer.name} has float weights; the PEs compute with integers", where=where,
                              hint="run the quantize pass first (compile_yoso runs it)")
    s = hw.sram
    block = weight_block(layer, pe)
    if block.size and int(np.abs(block.astype(np.int64)).max()) > s["weight"].max_value:
        raise DeploymentError(f"a weight of magnitude {int(np.abs(block.astype(np.int64)).max())} does not fit the "
                              f"{s['weight'].bits}-bit weight word", where=where,
                              hint=f"quantize with bits <= {s['weight'].bits}")
    if block.size > s["weight"].words:
        raise DeploymentError(f"{block.size} weights exceed the weight SRAM ({s['weight'].words} words)", where=where)
    weight = np.zeros(s["weight"].words, sram_dtype(s["weight"].bits))
    weight[:block.size] = block
    srams = {"weight": weight,
             "potential": np.zeros(s["potential"].words, sram_dtype(s["potential"].bits)),
             "acc_weight": np.zeros(s["acc_weight"].words, sram_dtype(s["acc_weight"].bits)),
             "spike_addr": np.zeros(s["spike_addr"].words, sram_dtype(s["spike_addr"].bits, signed=False))}
    config: dict[str, Any] = {
        "pe": pe.id, "xy": list(pe.xy) if pe.xy else None, "layer": layer.index, "layer_name": layer.name,
        "neuron": entry.kind, "synapse": layer.kind, "neurons": [pe.lo, pe.hi],
        "n_local": pe.size, "m": layer.m, "inputs": layer.inputs, "weights": int(block.size),
        "weight_layout": "input-major" if layer.kind == "dense" else "kernel",
        "accepts": pe.accepts, "key": pe.id,
    }
    config.update(entry.config(neuron, lambda values: _per_neuron(values, layer, pe)))
    bias = layer.bias()
    if bias is None:
        config["bias"] = None
    else:
        shape = (-1,) + (1,) * (len(neuron.result.type.features) - 1)
        config["bias"] = _per_neuron(bias.reshape(shape), layer, pe)
    if layer.kind == "conv2d":
        a = syn.attrs
        config["channels"] = list(pe.channels)
        config["conv"] = {"in_shape": list(syn.operands[0].type.features),
                          "out_shape": list(neuron.result.type.features), "kernel": list(w.shape[2:]),
                          "strides": list(a["strides"]), "pads": list(a["pads"]),
                          "dilations": list(a["dilations"]), "group": a["group"]}
    quant = neuron.meta.get("quant", {})
    config["state_bits"] = {"potential": quant.get("potential_bits", s["potential"].bits),
                            "acc_weight": quant.get(entry.acc_key, s["acc_weight"].bits)}
    config["input_map"] = {str(src.key): layer.input_base(src.value, src.layer) + src.lo
                           for src in sources if pe.id in src.dests}
    return PEImage(config, srams)


def build_images(plans: list[LayerPlan], sources: list[Source], hw: Hardware) -> list[PEImage]:
    """Images of every PE, by id."""
    images = [build_image(plan.layer, pe, sources, hw) for plan in plans for pe in plan.pes]
    return sorted(images, key=lambda im: im.id)
