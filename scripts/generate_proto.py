"""Generate the Python modules of the gRPC contracts in proto/ into src/.

`make proto` runs it; tests/ai/test_stubs.py runs it into a scratch folder and fails
when the committed modules differ, so stubs never fall behind the .proto files.

For each proto/maily/<...>/x.proto it writes x_pb2.py and x_pb2_grpc.py (grpcio-tools)
with typed x_pb2.pyi and x_pb2_grpc.pyi (mypy-protobuf), so mypy checks callers."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUTPUT_DIR = ROOT / "src"


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.rglob("*.proto"))


def generate(output_dir: Path = OUTPUT_DIR) -> list[Path]:
    """Write the generated modules under `output_dir`; returns their paths."""
    bin_dir = Path(sys.executable).parent
    include = Path(protoc.__file__).parent / "_proto"  # google/protobuf/*.proto
    sources = [str(p.relative_to(PROTO_DIR)) for p in proto_files()]
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_DIR}",
        f"--proto_path={include}",
        f"--plugin=protoc-gen-mypy={shutil.which('protoc-gen-mypy', path=str(bin_dir))}",
        f"--plugin=protoc-gen-mypy_grpc={shutil.which('protoc-gen-mypy_grpc', path=str(bin_dir))}",
        f"--python_out={output_dir}",
        f"--grpc_python_out={output_dir}",
        f"--mypy_out={output_dir}",
        f"--mypy_grpc_out={output_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    written: list[Path] = []
    for source in sources:
        stem = output_dir / source.removesuffix(".proto")
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi"):
            written.append(stem.with_name(stem.name + suffix))
    return written


if __name__ == "__main__":
    for path in generate():
        print(path.relative_to(ROOT))
