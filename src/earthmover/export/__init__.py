"""A trained generator written out for other programs: ONNX, TorchScript, safetensors (:data:`EXPORTERS`)."""

from earthmover.export.formats import EXPORTERS, Exported, Exporter, read_safetensors

__all__ = ["EXPORTERS", "Exported", "Exporter", "read_safetensors"]
