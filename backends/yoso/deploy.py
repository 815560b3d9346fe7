"""The deployment artifact: a directory the YOSO simulator (or a chip loader) runs from alone.

Layout (``docs/yoso.md``, "Deployment artifact")::

    DIR/
      manifest.json      format + version, snnc version, model hash, hardware file name + hash,
                         passes run, pass timings, and the sha256 of every other file
      hardware.toml      the hardware file, copied byte for byte
      model.ir           the final IR (text format, weights included), annotated by the passes
      program.json       layers, host encoders/decoders, packet format, integer semantics version
      placement.json     region, host port, PE id -> (x, y), expected hops of each placer
      routing.json       every multicast key (source, destinations, tree links, rate) and the
                         per-router tables ("x,y" -> key -> output ports)
      pe/NNNN/           one folder per PE: weight.npy, potential.npy, acc_weight.npy,
                         spike_addr.npy (the four SRAM images) and config.json
      report.txt         utilisation table, placement map, traffic

The directory is written into a temporary folder beside the target and renamed into place, so a
reader never sees half a deployment; an existing target is replaced only with ``force=True``, and
only when it is empty or a deployment itself. :func:`load_deployment` checks that every file is
there and matches its manifest hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnc.backends.reference.integer import SEMANTICS
from snnc.backends.yoso.hardware import Hardware, parse_hardware
from snnc.backends.yoso.images import SRAM_FILES, PEImage, build_images, sram_dtype
from snnc.backends.yoso.packet import packet_format
from snnc.backends.yoso.plan import HOST_PORT, YosoPlan
from snnc.backends.yoso.report import deployment_report
from snnc.errors import DeploymentError
from snnc.ir import Graph

FORMAT = "snnc-yoso-deployment"
FORMAT_VERSION = 1
TOP_FILES = ("hardware.toml", "model.ir", "program.json", "placement.json", "routing.json", "report.txt")
PE_FILES = (*SRAM_FILES.values(), "config.json")


@dataclass
class Deployment:
    """A deployment read back by :func:`load_deployment` (every file verified against the manifest)."""

    path: Path
    manifest: dict[str, Any]
    hardware: Hardware
    program: dict[str, Any]
    placement: dict[str, Any]
    routing: dict[str, Any]
    pes: list[PEImage] = field(default_factory=list)
    report: str = ""
    model_ir: str = ""


# ------------------------------------------------------------------------------------------ writing
def check_target(out_dir: str | os.PathLike[str], force: bool,
                 inputs: tuple[str | os.PathLike[str] | None, ...] = ()) -> Path:
    """Refuse an existing target without ``force``, and with it anything but an empty dir or a deployment
    whose every file its manifest lists; refuse a target that holds or is one of ``inputs``, that is a
    symlink or lies inside another deployment (:func:`snnc.io.claim_output`)."""
    from snnc.io import claim_output

    return claim_output(out_dir, inputs=inputs, force=force, kind="deployment", error=DeploymentError)


def _is_deployment(path: Path) -> bool:
    from snnc.io import is_deployment

    return is_deployment(path)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode("utf-8")


def _npy(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def write_deployment(graph: Graph, plan: YosoPlan, out_dir: str | os.PathLike[str], *, force: bool = False,
                     passes: list[str] | None = None, timings: list[tuple[str, float]] | None = None,
                     model_sha256: str, model_hashed: str = "ir-text", model_source: str = "<graph>",
                     ir_text: str | None = None) -> Path:
    """Write the deployment of a compiled graph from its plan (partitioned, placed and routed).

    Args:
        graph: the graph after the route pass.
        plan: its plan (``PassResult.state`` of the pipeline; the route pass has run).
        out_dir: the target directory (must not exist unless ``force``).
        force: replace an existing deployment (or empty directory).
        passes, timings: the pipeline run and each pass's seconds (recorded in the manifest).
        model_sha256, model_hashed, model_source: the input model's hash, what was hashed
            (``file`` or ``ir-text``) and its path.
        ir_text: the final IR dump (default: printed here with weights).

    Returns:
        The target path.

    Raises:
        DeploymentError: the target exists (without force, or not a deployment), or the graph is not
            ready (unquantized weights).
        MissingPassError: the plan is not placed and routed.
    """
    from snnc import __version__
    from snnc.backends.yoso.plan import require_plan
    from snnc.passes.base import PassState

    source = Path(model_source) if model_hashed == "file" else None
    target = check_target(out_dir, force, inputs=(source,))
    state = PassState()
    state.put(plan)
    require_plan(state, "route", by="deploy")
    assert plan.placement is not None and plan.routes is not None
    hw = plan.hardware
    images = build_images(plan.layers, plan.routes.sources, hw)
    if ir_text is None:
        ir_text = _print_ir(graph)
    files: dict[str, bytes] = {
        "hardware.toml": hw.text.encode("utf-8"),
        "model.ir": ir_text.encode("utf-8"),
        "program.json": _json(_program(graph, plan)),
        "placement.json": _json(_placement(plan)),
        "routing.json": _json(_routing(plan)),
        "report.txt": deployment_report(graph, plan, model=f"{graph.name} ({model_source}, sha256 "
                                        f"{model_sha256[:12]})", timings=timings or []).encode("utf-8"),
    }
    for im in images:
        folder = f"pe/{im.id:04d}"
        for name, fname in SRAM_FILES.items():
            files[f"{folder}/{fname}"] = _npy(im.srams[name])
        files[f"{folder}/config.json"] = _json(im.config)
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "snnc_version": __version__,
        "model": {"name": graph.name, "sha256": model_sha256, "hashed": model_hashed, "source": model_source},
        "hardware": {"file": hw.name, "sha256": hw.sha256, "copy": "hardware.toml"},
        "passes": list(passes or []), "timings_s": {n: round(s, 6) for n, s in (timings or [])},
        "time_steps": graph.time_steps, "mesh": [hw.mesh.cols, hw.mesh.rows],
        "region": list(plan.placement.region), "pes": len(plan.pes),
        "files": {name: _sha256(data) for name, data in sorted(files.items())},
    }
    files["manifest.json"] = _json(manifest)
    _write_atomically(target, files, force, inputs=(source,))
    return target


def _print_ir(graph: Graph) -> str:
    from snnc.ir.printer import print_graph

    return print_graph(graph)


def _write_atomically(target: Path, files: dict[str, bytes], force: bool,
                      inputs: tuple[Path | None, ...] = ()) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes 0700; the deployment gets the mode mkdir would give it
    except OSError as err:
        raise _write_error(target, err) from None
    try:
        for name, data in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if target.exists():
            check_target(target, force, inputs=inputs)  # re-check: it may have appeared while we worked
            trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, trash / "old")
            try:
                os.replace(tmp, target)
            except OSError:
                os.replace(trash / "old", target)  # put the old deployment back
                shutil.rmtree(trash, ignore_errors=True)
                raise
            shutil.rmtree(trash, ignore_errors=True)
        else:
            try:
                os.rename(tmp, target)
            except OSError as err:
                raise DeploymentError(f"cannot move the deployment into place: {err.strerror}", where=str(target),
                                      hint="does the directory exist now? pass --force to replace it") from None
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):
            raise _write_error(target, err) from None
        raise


def _write_error(target: Path, err: OSError) -> DeploymentError:
    """A failed write (no such folder, not a folder, read-only, disk full) as a user-facing error."""
    from snnc.io import write_failure

    return DeploymentError(f"cannot write the deployment: {write_failure(target, err)}", where=str(target),
                           hint="check that the output folder's parent is a writable folder with room on its disk")


def _program(graph: Graph, plan: YosoPlan) -> dict[str, Any]:
    network = plan.network
    layers = []
    for lp in plan.layers:
        ly = lp.layer
        layers.append({"index": ly.index, "name": ly.name, "neuron": ly.neuron.opname, "synapse": ly.synapse.opname,
                       "source": ly.source.name, "source_layer": ly.source_layer, "n": ly.n, "m": ly.m,
                       "inputs": ly.inputs, "features": list(ly.neuron.result.type.features),
                       "pes": [pe.id for pe in lp.pes], "consumers": ly.consumers, "to_host": ly.to_host})
        if ly.merged:  # a skip connection: every source, in the order of the PE's inputs
            layers[-1]["sources"] = [{"value": v.name, "layer": src, "base": ly.input_base(v.name, src)}
                                     for v, src in ly.sources]
    encoders = [{"value": s.value.name, "op": s.op.opname, "input": s.op.operands[0].name,
                 "attrs": {k: v for k, v in s.op.attrs.items() if isinstance(v, int | float | str)},
                 "size": s.size, "consumers": s.consumers} for s in network.host_sources]
    on_pes = {id(op) for ly in network.layers for op in ly.ops}
    host_ops = [{"result": op.result.name, "op": op.opname, "operands": [v.name for v in op.operands],
                 "attrs": {k: v for k, v in op.attrs.items() if isinstance(v, int | float | str)}}
                for op in graph.ops if id(op) not in on_pes]
    return {"name": graph.name, "time_steps": graph.time_steps, "semantics": SEMANTICS,
            "inputs": [v.name for v in graph.inputs], "outputs": [v.name for v in graph.outputs],
            "layers": layers, "host": {"port": HOST_PORT, "encoders": encoders,
                                       "blocks": [b.to_meta() for b in plan.host_blocks], "ops": host_ops,
                                       "note": "host ops run in graph order; their array attributes are in model.ir"},
            "packet": packet_format(plan.hardware).to_json()}


def _placement(plan: YosoPlan) -> dict[str, Any]:
    hw, placed = plan.hardware, plan.placement
    assert placed is not None
    return {"mesh": [hw.mesh.cols, hw.mesh.rows], "region": list(placed.region),
            "host_port": {"router": [0, 0], "side": "west"}, "placer": placed.placer,
            "spike_stats": placed.spike_stats, "expected_hops": dict(placed.expected_hops),
            "hops_lower_bound": placed.lower_bound,
            "pes": [{"id": pe.id, "layer": lp.layer.index, "xy": list(pe.xy)} for lp in plan.layers for pe in lp.pes
                    if pe.xy is not None]}


def _routing(plan: YosoPlan) -> dict[str, Any]:
    routes = plan.routes
    assert routes is not None
    keys = [{"key": s.key, "source": "host" if s.pe is None else s.pe, "value": s.value, "neurons": [s.lo, s.hi],
             "dests": s.dests, "links": routes.links[s.key], "rate": s.rate} for s in routes.sources]
    tables = {f"{x},{y}": {str(k): ports for k, ports in t.items()} for (x, y), t in routes.tables.items()}
    return {**routes.summary,
            "ports": "N (y-1), E (x+1), S (y+1), W (x-1), L (local core), H (host link west of (0,0))",
            "keys": keys, "tables": tables}


# ------------------------------------------------------------------------------------------ reading
#: The largest manifest.json read, and the largest other file (SRAM images of the biggest PE fit easily).
MAX_MANIFEST_BYTES = 16 << 20
MAX_FILE_BYTES = 1 << 30
#: The most files and the most bytes in all that one deployment may list (bounded before anything is read).
MAX_FILES = 1 << 20
MAX_TOTAL_BYTES = 8 << 30


class _Folder:
    """A deployment directory opened once: every file is read relative to that open folder, component by
    component with ``O_NOFOLLOW`` (a symlink anywhere inside is refused, nothing outside can be reached),
    as a regular file of bounded size; a FIFO or device is refused without blocking."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            self.fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        except NotADirectoryError:
            raise DeploymentError("not a deployment directory", where=str(root),
                                  hint="give the directory written by snnc compile --target yoso") from None
        except FileNotFoundError:
            raise DeploymentError("deployment directory not found", where=str(root),
                                  hint="give the directory written by snnc compile --target yoso") from None
        except OSError as err:
            raise DeploymentError(f"cannot open the deployment: {err.strerror or err}", where=str(root)) from None

    def close(self) -> None:
        os.close(self.fd)

    def swapped(self) -> bool:
        """Whether the path now names another directory than the one opened (replaced by compile --force)."""
        try:
            now, opened = os.stat(self.root), os.fstat(self.fd)
        except OSError:
            return True
        return (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino)

    def read(self, name: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
        from snnc.io import _NotRegular, _read_regular, _TooBig, sanitize

        parts = name.split("/")
        shown = sanitize(name)
        if any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
            raise DeploymentError(f"manifest.json lists {shown!r}, a path outside the deployment",
                                  where=str(self.root / "manifest.json"), hint="recompile the model (--force)")
        fds: list[int] = []
        try:
            at = self.fd
            for k, part in enumerate(parts[:-1]):
                try:
                    at = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                                 dir_fd=at)
                except FileNotFoundError:
                    raise DeploymentError(f"missing file {shown}", where=str(self.root),
                                          hint="recompile the model (--force)") from None
                except OSError as err:
                    folder = "/".join(parts[:k + 1])
                    why = "a symbolic link" if os.path.islink(self.root / folder) else "not a folder"
                    raise DeploymentError(f"{sanitize(folder)} is {why}; a deployment reads only its own files "
                                          f"({err.strerror})", where=str(self.root / folder),
                                          hint="recompile the model (--force)") from None
                fds.append(at)
            try:
                return _read_regular(Path(parts[-1]), max_bytes, nofollow=True, dir_fd=at)
            except FileNotFoundError:
                raise DeploymentError(f"missing file {shown}", where=str(self.root),
                                      hint="recompile the model (--force)") from None
            except _NotRegular as err:
                raise DeploymentError(f"{shown} is {err.args[0]}, not a regular file", where=str(self.root / name),
                                      hint="recompile the model (--force)") from None
            except _TooBig:
                raise DeploymentError(f"{shown} is larger than the {max_bytes} bytes a deployment file may have",
                                      where=str(self.root / name), hint="recompile the model (--force)") from None
            except OSError as err:
                why = ("a symbolic link; a deployment reads only its own files" if os.path.islink(self.root / name)
                       else f"unreadable ({err.strerror or err})")
                raise DeploymentError(f"{shown} is {why}", where=str(self.root / name),
                                      hint="recompile the model (--force)") from None
        finally:
            for fd in fds:
                os.close(fd)


def load_deployment(path: str | os.PathLike[str]) -> Deployment:
    """Read a deployment directory and verify it against its manifest.

    Every file is read once, through the manifest (its sha256 checked on the very bytes then parsed), from
    inside the directory (no symlinks), with its size bounded before it is read. A directory replaced
    while it is read (``compile --force`` beside us) is read again from the start.

    Raises:
        DeploymentError: not a directory, no or unreadable manifest, an unknown format version, a file
            missing, a symlink or special file, too large, whose sha256 differs from the manifest's, or a
            malformed field (the error names the file and the field).
    """
    root = Path(path)
    for attempt in range(3):
        folder = _open_folder(root)
        try:
            return _load(root, folder)
        except DeploymentError:
            if attempt == 2 or not folder.swapped():
                raise
        finally:
            folder.close()
    raise AssertionError("unreachable")


def _open_folder(root: Path) -> _Folder:
    """Open the deployment; while ``compile --force`` swaps it (its ``.NAME.old-*`` folder beside it), the
    name is missing for an instant: wait for the new one (up to a second) rather than call it missing."""
    for _ in range(20):
        try:
            return _Folder(root)
        except DeploymentError:
            if root.exists() or not any(root.parent.glob(f".{root.name}.old-*")):
                raise
            import time

            time.sleep(0.05)
    return _Folder(root)


def _load(root: Path, folder: _Folder) -> Deployment:
    manifest = _parse_json(folder.read("manifest.json", MAX_MANIFEST_BYTES), root, "manifest.json")
    if manifest.get("format") != FORMAT:
        raise DeploymentError(f"manifest.json is not a {FORMAT} manifest", where=str(root / "manifest.json"))
    if type(manifest.get("format_version")) is not int or manifest.get("format_version") != FORMAT_VERSION:
        raise DeploymentError(f"deployment format version {manifest.get('format_version')!r} is not supported "
                              f"(this snnc reads {FORMAT_VERSION})", where=str(root / "manifest.json"),
                              hint="recompile the model with this snnc")
    _check_manifest(manifest, root / "manifest.json")
    listed: dict[str, str] = manifest["files"]
    required = list(TOP_FILES) + [f"pe/{k:04d}/{f}" for k in range(manifest["pes"]) for f in PE_FILES]
    for name in required:
        if name not in listed:
            raise DeploymentError(f"the manifest does not list {name}; the deployment is incomplete",
                                  where=str(root / "manifest.json"), hint="recompile the model")
    data: dict[str, bytes] = {}
    total = 0
    for name, digest in listed.items():
        blob = folder.read(name)
        total += len(blob)
        if total > MAX_TOTAL_BYTES:
            raise DeploymentError(f"the deployment's files hold more than {MAX_TOTAL_BYTES} bytes",
                                  where=str(root), hint="recompile the model (--force)")
        if _sha256(blob) != digest:
            from snnc.io import sanitize

            raise DeploymentError(f"{sanitize(name)} does not match its sha256 in manifest.json (changed after "
                                  "compiling)", where=str(root / name), hint="recompile the model (--force)")
        data[name] = blob
    hw_text = _text(data, root, "hardware.toml")
    hardware = parse_hardware(hw_text, source=str(root / "hardware.toml"))
    if hardware.sha256 != manifest["hardware"]["sha256"]:
        raise DeploymentError("hardware.toml does not match the hardware hash in manifest.json",
                              where=str(root / "hardware.toml"), hint="recompile the model (--force)")
    pes = []
    for k in range(int(manifest["pes"])):
        config = _parse_json(data[f"pe/{k:04d}/config.json"], root, f"pe/{k:04d}/config.json")
        _check_config(config, k, hardware, root / f"pe/{k:04d}/config.json")
        srams = {n: _read_sram(data[f"pe/{k:04d}/{f}"], root, f"pe/{k:04d}/{f}", hardware, n)
                 for n, f in SRAM_FILES.items()}
        pes.append(PEImage(config, srams))
    program = _parse_json(data["program.json"], root, "program.json")
    placement = _parse_json(data["placement.json"], root, "placement.json")
    routing = _parse_json(data["routing.json"], root, "routing.json")
    _check_agrees(manifest, program, placement, hardware, root / "manifest.json")
    _check_program(program, int(manifest["pes"]), root / "program.json")
    _check_routing(routing, int(manifest["pes"]), root / "routing.json")
    return Deployment(path=root, manifest=manifest, hardware=hardware, program=program,
                      placement=placement, routing=routing, pes=pes, report=_text(data, root, "report.txt"),
                      model_ir=_text(data, root, "model.ir"))


def _text(data: dict[str, bytes], root: Path, name: str) -> str:
    try:
        return data[name].decode("utf-8")
    except UnicodeDecodeError as err:
        raise DeploymentError(f"{name} is not UTF-8 text ({err.reason} at byte {err.start})",
                              where=str(root / name), hint="recompile the model (--force)") from None


def _bad_field(where: Path, field: str, problem: str) -> DeploymentError:
    return DeploymentError(f"{where.name}: field {field} {problem}", where=str(where),
                           hint="the file was edited after compiling; recompile the model (--force)")


def _is_int(value: Any) -> bool:
    return type(value) is int


def _check_config(config: dict[str, Any], k: int, hw: Hardware, where: Path) -> None:
    """A PE's config.json: its id and its router inside the hardware's mesh."""
    if config.get("pe") != k:
        raise _bad_field(where, "'pe'", f"must be {k}, got {config.get('pe')!r}")
    xy = config.get("xy")
    if not (isinstance(xy, list) and len(xy) == 2 and all(_is_int(v) for v in xy)
            and 0 <= xy[0] < hw.mesh.cols and 0 <= xy[1] < hw.mesh.rows):
        raise _bad_field(where, "'xy'", f"must be [x, y] on the {hw.mesh.cols}x{hw.mesh.rows} mesh of "
                         f"hardware.toml, got {xy!r}")


def _check_program(program: dict[str, Any], pes: int, where: Path) -> None:
    """program.json's layers: each lists PE ids in range, every PE in one layer; sizes are counts."""
    layers = program.get("layers")
    if not isinstance(layers, list) or not all(isinstance(ly, dict) for ly in layers):
        raise _bad_field(where, "'layers'", "must be a list of objects")
    seen: set[int] = set()
    for i, ly in enumerate(layers):
        ids = ly.get("pes")
        if not isinstance(ids, list) or not all(_is_int(p) and 0 <= p < pes for p in ids) or len(set(ids)) != len(ids):
            raise _bad_field(where, f"'layers[{i}].pes'", f"must list distinct PE ids 0 .. {pes - 1}, got "
                             f"{str(ids)[:80]}")
        if seen & set(ids):
            raise _bad_field(where, f"'layers[{i}].pes'", f"places PE {min(seen & set(ids))} in two layers")
        seen |= set(ids)
        for key in ("n", "m"):
            if key in ly and not (_is_int(ly[key]) and 0 <= ly[key] <= 1 << 31):
                raise _bad_field(where, f"'layers[{i}].{key}'", f"must be a count, got {str(ly[key])[:40]}")
        if not isinstance(ly.get("name"), str) or not isinstance(ly.get("features"), list):
            raise _bad_field(where, f"'layers[{i}]'", "needs a 'name' string and a 'features' list")
        if not all(_is_int(f) and 1 <= f <= 1 << 31 for f in ly["features"]):
            raise _bad_field(where, f"'layers[{i}].features'", f"must list positive sizes, got "
                             f"{str(ly['features'])[:80]}")


_HOST_DEST = -1  # a key's destination "the host" (snnc.backends.yoso.sim.chip.HOST_DEST)


def _check_routing(routing: dict[str, Any], pes: int, where: Path) -> None:
    """routing.json's keys: integer keys, a source that is 'host' or a PE id, destinations that are PE ids (or
    the host), a neuron range ``[lo, hi]``; the tables are checked against the mesh by the simulator."""
    keys = routing.get("keys")
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise _bad_field(where, "'keys'", "must be a list of objects")
    for i, k in enumerate(keys):
        if not (_is_int(k.get("key")) and 0 <= k["key"] < 1 << 31):
            raise _bad_field(where, f"'keys[{i}].key'", f"must be a non-negative integer, got {str(k.get('key'))[:40]}")
        src = k.get("source")
        if not (src == "host" or (_is_int(src) and 0 <= src < pes)):
            raise _bad_field(where, f"'keys[{i}].source'", f"must be 'host' or a PE id, got {str(src)[:40]}")
        dests = k.get("dests")
        if not isinstance(dests, list) or not all(_is_int(d) and (0 <= d < pes or d == _HOST_DEST) for d in dests):
            raise _bad_field(where, f"'keys[{i}].dests'", f"must list PE ids (or the host), got {str(dests)[:80]}")
        nrange = k.get("neurons")
        if not (isinstance(nrange, list) and len(nrange) == 2 and all(_is_int(v) for v in nrange)
                and 0 <= nrange[0] <= nrange[1] <= 1 << 31):
            raise _bad_field(where, f"'keys[{i}].neurons'", f"must be [lo, hi], got {str(nrange)[:40]}")
    if not isinstance(routing.get("tables", {}), dict):
        raise _bad_field(where, "'tables'", "must be an object")


def _check_agrees(manifest: dict[str, Any], program: dict[str, Any], placement: dict[str, Any], hw: Hardware,
                  where: Path) -> None:
    """The manifest (the one file without a hash) agrees with the files it vouches for."""
    try:
        placed, steps = sum(len(layer["pes"]) for layer in program["layers"]), program["time_steps"]
    except (KeyError, TypeError) as err:
        raise DeploymentError(f"program.json lacks a required entry ({err})", where=str(where.parent / "program.json"),
                              hint="recompile the model (--force)") from None
    claims = {"pes": (manifest["pes"], placed, "program.json places"),
              "time_steps": (manifest.get("time_steps"), steps, "program.json runs"),
              "mesh": (manifest.get("mesh"), [hw.mesh.cols, hw.mesh.rows], "hardware.toml has"),
              "region": (manifest.get("region"), placement.get("region"), "placement.json uses")}
    for key, (said, actual, what) in claims.items():
        if said != actual:
            raise DeploymentError(f"manifest.json says {key} = {said!r} but {what} {actual!r}", where=str(where),
                                  hint="the manifest was edited after compiling; recompile the model (--force)")
    if not (_is_int(steps) and 1 <= steps <= 1 << 20):
        raise _bad_field(where.parent / "program.json", "'time_steps'", f"must be 1 .. {1 << 20}, got {steps!r}")


def _check_manifest(manifest: dict[str, Any], where: Path) -> None:
    """The manifest keys the reader relies on have the right types (a hand-edited manifest fails here)."""
    files, pes, hw = manifest.get("files"), manifest.get("pes"), manifest.get("hardware")
    problem = None
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        problem = "'files' must map file names to sha256 strings"
    elif len(files) > MAX_FILES:
        problem = f"'files' lists {len(files)} files, more than the {MAX_FILES} a deployment may have"
    elif type(pes) is not int or pes < 0:
        problem = f"'pes' must be a non-negative integer, got {str(pes)[:40]}"
    elif pes * len(PE_FILES) > len(files):
        problem = f"it claims {pes} PEs but lists only {len(files)} files"
    elif not isinstance(hw, dict) or not isinstance(hw.get("sha256"), str):
        problem = "'hardware' must be an object with the hardware file's 'sha256'"
    elif any(Path(name).is_absolute() or ".." in Path(name).parts for name in files):
        problem = "'files' names a path outside the deployment"
    if problem:
        raise DeploymentError(f"manifest.json is malformed: {problem}", where=str(where),
                              hint="recompile the model (--force)")


def _read_sram(data: bytes, root: Path, name: str, hw: Hardware, sram: str) -> np.ndarray:
    """One SRAM image: a 1-D ``.npy`` of the SRAM's words, in the integer type of its word width.

    The header is checked against the hardware's SRAM (shape and dtype) before any array is made, so a
    forged header (a terabyte shape) is refused without allocating it.
    """
    import io

    file = root / name
    spec = hw.sram[sram]
    dtype = sram_dtype(spec.bits, signed=sram != "spike_addr")
    if not data.startswith(b"\x93NUMPY"):
        raise DeploymentError(f"{name} is not a NumPy .npy file", where=str(file), hint="recompile the model (--force)")
    buf = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(buf)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, header_dtype = read_header(buf, max_header_size=10_000)
    except (OSError, ValueError, EOFError, SyntaxError, TypeError) as err:
        raise DeploymentError(f"{name} is not a readable NumPy array: {err}", where=str(file),
                              hint="recompile the model (--force)") from None
    if shape != (spec.words,) or header_dtype != dtype:
        raise DeploymentError(f"{name} holds {header_dtype} {list(shape)[:4]}, but the {sram} SRAM of "
                              f"hardware.toml is {dtype} [{spec.words}]", where=str(file),
                              hint="recompile the model (--force)")
    if len(data) - buf.tell() != spec.words * dtype.itemsize:
        raise DeploymentError(f"{name} holds {len(data) - buf.tell()} bytes of data, not the {spec.words} words "
                              f"its header says", where=str(file), hint="recompile the model (--force)")
    return np.frombuffer(data, dtype=dtype, count=spec.words, offset=buf.tell()).copy()


def _parse_json(data: bytes, root: Path, name: str) -> dict[str, Any]:
    file = root / name
    try:
        obj = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as err:
        raise DeploymentError(f"{name} is not readable JSON: {err}", where=str(file)) from None
    except RecursionError:
        raise DeploymentError(f"{name} nests deeper than any deployment file does", where=str(file),
                              hint="recompile the model (--force)") from None
    if not isinstance(obj, dict):
        raise DeploymentError(f"{name} is not a JSON object", where=str(file))
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def chip_from(chip_class: Any, dep: Deployment, **options: Any) -> Any:
    """``chip_class(dep, **options)``, a field the checks above do not cover turned into a DeploymentError.

    The deployment's files are hashed, so a malformed field means a forged deployment (its hashes
    recomputed): one clear error naming the deployment, not an internal error.
    """
    try:
        return chip_class(dep, **options)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as err:
        from snnc.io import sanitize

        raise DeploymentError(f"a field of the deployment's files is malformed ({type(err).__name__}: "
                              f"{sanitize(err)[:200]})", where=str(dep.path),
                              hint="recompile the model (--force); if this snnc compiled it as it is, report "
                                   "it as a bug") from None


def inspect_deployment(path: str | os.PathLike[str]) -> str:
    """The report of a deployment, after verifying it (what ``snnc inspect DIR`` prints)."""
    dep = load_deployment(path)
    m = dep.manifest
    passes = m.get("passes")  # informational keys: printed as found, whatever a hand edit made of them
    passes = ", ".join(map(str, passes)) if isinstance(passes, list) else repr(passes)
    head = (f"deployment {dep.path} (format {m['format_version']}, snnc {m.get('snnc_version')}): verified "
            f"{len(m['files'])} files, {m['pes']} PEs, passes {passes or '-'}\n\n")
    return head + dep.report
