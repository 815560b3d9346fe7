"""``snnc nir``: exchange IF networks with NIR tools (snnTorch, Norse, Sinabs, Rockpool, Lava-dl, SpiNNaker2).

Command line::

    snnc nir import FILE.nir --reset {subtract,zero} [-T STEPS] [--encoder {spikes,rate}]
                   [--encoder-threshold X] [--decoder {spike_count,last_step}] [--dt DT] [-o OUT.snnir] [--force]
    snnc nir export MODEL -o OUT.nir [--dt DT] [--for {nir,snntorch,norse,spikingjelly,sinabs,rockpool}] [--force]

``import`` writes the snnc IR text dump (stdout without ``-o``); ``export`` reads an ONNX model or an IR
dump (:func:`snnc.api.load_model`). The conversions are :func:`snnc.frontend.nir_import.import_nir` and
:func:`snnc.frontend.nir_export.export_nir`; ``docs/nir.md`` has the mapping, the time grid and the reset choice.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from snnc.cli._util import positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``import`` and ``export`` subcommands of ``snnc nir``."""
    from snnc.frontend.nir_export import FLAVOURS
    from snnc.frontend.nir_import import DECODERS, ENCODERS, LIBRARIES

    sub = p.add_subparsers(dest="nir_command", metavar="SUBCOMMAND", required=True)
    imp = sub.add_parser("import", help="read a NIR graph (.nir) into the snnc IR",
                         description="Read a NIR graph (.nir, HDF5) into the snnc IR and write its text dump.")
    imp.add_argument("file", help="the .nir file")
    # not required=True in argparse: a missing --reset is a SnncError that explains the NIR 1.0.5/1.0.6 change
    imp.add_argument("--reset", default=None, metavar="{subtract,zero}",
                     help="neuron reset (required, except for SpikingJelly files: 'zero'): 'subtract' (V -= theta, "
                          "nir <= 1.0.5, snnTorch's default) or 'zero' (V = 0, nir >= 1.0.6 with v_reset = 0; "
                          "Norse's and SpikingJelly's default)")
    imp.add_argument("-T", "--time-steps", type=positive_int, default=None,
                     help="simulation length T (required unless the file was written by 'snnc nir export')")
    imp.add_argument("--encoder", choices=ENCODERS, default=None,
                     help="'spikes': the input is the spike train [T,B,*f] (default); 'rate': x in [0,1] "
                          "through snn.rate_encode")
    imp.add_argument("--encoder-threshold", type=float, default=None,
                     help="the rate encoder's threshold (default 0.5)")
    imp.add_argument("--decoder", choices=DECODERS, default=None,
                     help="output decoding: spike_count (default, spikes / T, or the mean of an LI trace), "
                          "last_step (S[T-1] or V[T-1]) or max_over_time (LI readouts: max_t V[t])")
    imp.add_argument("--dt", type=float, default=None,
                     help="NIR time per snnc step (default: what the file implies, e.g. SpikingJelly's IF r = 1/dt "
                          "or snnTorch's r = tau/dt; else the library's export dt; else 1)")
    imp.add_argument("--library", choices=LIBRARIES, default=None,
                     help="whose discretisation the file follows (default: detected from the file; docs/nir.md)")
    imp.add_argument("-o", "--output", default=None, help="write the IR dump here instead of stdout")
    imp.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    imp.set_defaults(nir_run=_run_import)

    exp = sub.add_parser("export", help="write an IF network as a NIR graph (.nir)",
                         description="Write an IF network (ONNX model or IR dump) as a NIR graph (.nir, HDF5).")
    exp.add_argument("model", help="an ONNX model (SPEC section 3) or an IR text dump")
    exp.add_argument("-o", "--output", required=True, help="the .nir file to write")
    exp.add_argument("--dt", type=float, default=None,
                     help="NIR time per snnc step (default: the flavour's: 1 for nir, 1e-4 for snntorch and "
                          "spikingjelly, 1e-3 for norse; IF r = 1/dt)")
    exp.add_argument("--for", dest="flavour", choices=FLAVOURS, default="nir",
                     help="whose NIR importer the parameters are written for (default nir, the standard; "
                          "sinabs and rockpool: files for nir <= 1.0.5 readers; docs/nir.md)")
    exp.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    exp.set_defaults(nir_run=_run_export)


def run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; user errors raise :class:`~snnc.errors.SnncError`."""
    return int(args.nir_run(args) or 0)


def _run_import(args: argparse.Namespace) -> int:
    from snnc.frontend.nir_import import NirImportWarning, import_nir
    from snnc.io import check_output_path, write_atomic
    from snnc.ir.printer import print_graph

    out = check_output_path(args.output, inputs=(args.file,), force=args.force) if args.output else None
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", NirImportWarning)
        graph = import_nir(args.file, reset=args.reset, time_steps=args.time_steps, encoder=args.encoder,
                           decoder=args.decoder, encoder_threshold=args.encoder_threshold, dt=args.dt,
                           library=args.library)
    for note in notes:
        print(f"note: {note.message}", file=sys.stderr)
    text = print_graph(graph)
    if out is None:
        sys.stdout.write(text)
    else:
        write_atomic(out, text)
        reset = graph.metadata.get("snn.nir.reset", args.reset)
        print(f"wrote {out} ({len(graph.ops)} ops, T = {graph.time_steps}, reset {reset})", file=sys.stderr)
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from snnc.api import load_model
    from snnc.frontend.nir_export import AFTER_LOADING, export_nir
    from snnc.io import check_output_path

    out = check_output_path(args.output, inputs=(args.model,), force=args.force)
    graph = load_model(args.model)
    result = export_nir(graph, out, force=args.force, dt=args.dt, flavour=args.flavour)
    kinds = ", ".join(type(n).__name__ for n in result.nodes.values())
    print(f"wrote {out} (for {args.flavour}; nodes: {kinds})", file=sys.stderr)
    if args.flavour in AFTER_LOADING:
        print(f"note: {AFTER_LOADING[args.flavour]}", file=sys.stderr)
    return 0
