"""Exporters: a trained generator written in a format other programs read, each a registered entry.

* ``onnx``: ONNX with a dynamic batch axis; inputs named ``z`` (N, latent) and, for a conditional
  generator, ``labels`` (N,) int64; output ``images``. Written with the TorchScript-based exporter
  (``torch.onnx.export(..., dynamo=False)``), which needs only the ``onnx`` package; the dynamo exporter
  would also need ``onnxscript``.
* ``torchscript``: ``torch.jit.trace`` of the generator, loadable with ``torch.jit.load`` and no earthmover.
* ``safetensors``: the weights, with a JSON header (``earthmover`` key) holding the architecture, latent
  size, classes, sample shape and the run's config, from which :func:`earthmover.load` rebuilds the
  generator. No pickle: a safetensors file cannot run code when read.

Each exporter writes to the path it is given; the command writes to a temporary name and renames it.
onnx, onnxruntime and safetensors are the optional extra ``[export]``.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from earthmover.errors import EarthmoverError
from earthmover.registry import Registry

try:  # the optional extra [export]
    import safetensors.torch as safetensors_torch
except ImportError:  # pragma: no cover - exercised with the extra absent
    safetensors_torch = None  # type: ignore[assignment]  # None says the extra is absent

EXTRA_HINT = 'pip install -e ".[export]" from the earthmover clone'

EXPORTERS: Registry[Any] = Registry(
    "exporter", "Formats a trained generator is written in: earthmover export --format NAME."
)

HEADER_KEY = "earthmover"


@dataclass
class Exported:
    """What an exporter needs: the generator (eval mode), example inputs, their names, and the metadata
    that rebuilds the generator (architecture, latent size, classes, sample shape, config)."""

    module: nn.Module
    inputs: tuple[Tensor, ...]
    names: tuple[str, ...]
    metadata: dict = field(default_factory=dict)

    def specification(self) -> str:
        """The inputs as one line: ``z: float32 (N, 64); labels: int64 (N,) in [0, 10)``."""
        parts = []
        for name, x in zip(self.names, self.inputs):
            dims = ", ".join(["N", *map(str, x.shape[1:])])
            text = f"{name}: {str(x.dtype).removeprefix('torch.')} ({dims}{',' if x.dim() == 1 else ''})"
            if name == "labels":
                text += f" in [0, {self.metadata.get('num_classes', '?')})"
            parts.append(text)
        return "; ".join(parts)


@dataclass(frozen=True)
class Exporter:
    """A registered format: its file suffix, the packages it needs, and the function that writes it."""

    suffix: str
    packages: tuple[str, ...]
    write: Callable[[Exported, str], None]

    def missing(self) -> list[str]:
        """The packages this format needs that are not installed."""
        import importlib.util

        return [p for p in self.packages if importlib.util.find_spec(p) is None]


@contextlib.contextmanager
def _quiet():
    """Silence torch's notices that tracing and the TorchScript-based ONNX exporter are deprecated (both
    still work for a plain nn.Module in torch 2.13) and the tracer's constant-shape notes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


def write_onnx(exported: Exported, path: str) -> None:
    axes = {name: {0: "batch"} for name in exported.names}
    axes["images"] = {0: "batch"}
    with _quiet():
        torch.onnx.export(
            exported.module,
            exported.inputs,
            path,
            input_names=list(exported.names),
            output_names=["images"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def write_torchscript(exported: Exported, path: str) -> None:
    with _quiet(), torch.no_grad():
        traced = torch.jit.trace(exported.module, exported.inputs, check_trace=False)
    traced.save(path)


def write_safetensors(exported: Exported, path: str) -> None:
    weights = {k: v.detach().cpu().contiguous().clone() for k, v in exported.module.state_dict().items()}
    safetensors_torch.save_file(weights, path, metadata={HEADER_KEY: json.dumps(exported.metadata)})


def read_safetensors(path: str) -> tuple[dict[str, Tensor], dict]:
    """The weights and the earthmover header of a safetensors file this module wrote."""
    if safetensors_torch is None:
        raise EarthmoverError(f"reading {path!r} needs the safetensors package; {EXTRA_HINT}")
    try:
        from safetensors import safe_open

        with safe_open(path, framework="pt") as handle:
            header = (handle.metadata() or {}).get(HEADER_KEY)
        weights = safetensors_torch.load_file(path)
    except Exception as exc:
        raise EarthmoverError(
            f"{path!r} is not a readable safetensors file ({type(exc).__name__}); pass a file earthmover export wrote"
        ) from None
    if header is None:
        raise EarthmoverError(
            f"{path!r} has no earthmover header; pass a file written by earthmover export --format safetensors"
        )
    try:
        values = json.loads(header)
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise EarthmoverError(
            f"{path!r}: its earthmover header is not a JSON object; export the run again with earthmover export"
        )
    return weights, values


EXPORTERS.register("onnx", Exporter(".onnx", ("onnx",), write_onnx))
EXPORTERS.register("torchscript", Exporter(".pt", (), write_torchscript))
EXPORTERS.register("safetensors", Exporter(".safetensors", ("safetensors",), write_safetensors))
