"""The committed gRPC modules are what `make proto` makes of proto/ today."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_proto", ROOT / "scripts/generate_proto.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_stubs_match_a_fresh_generation(tmp_path: Path) -> None:
    generated = _generator().generate(tmp_path)

    assert {p.name for p in generated} >= {
        "assistant_pb2.py", "assistant_pb2.pyi", "assistant_pb2_grpc.py", "assistant_pb2_grpc.pyi"
    }  # fmt: skip
    stale = [
        str(path.relative_to(tmp_path))
        for path in generated
        if not (ROOT / "src" / path.relative_to(tmp_path)).is_file()
        or (ROOT / "src" / path.relative_to(tmp_path)).read_bytes() != path.read_bytes()
    ]
    assert stale == [], f"generated modules are stale, run `make proto`: {stale}"


def test_a_changed_contract_is_caught(tmp_path: Path) -> None:
    generator = _generator()
    proto_dir = tmp_path / "proto"
    source = ROOT / "proto/maily/ai/v1/assistant.proto"
    changed = proto_dir / "maily/ai/v1/assistant.proto"
    changed.parent.mkdir(parents=True)
    changed.write_text(
        source.read_text().replace(
            "string website_url = 7;", "string website_url = 7;\n  string tagline = 8;"
        )
    )
    generator.PROTO_DIR = proto_dir
    out = tmp_path / "out"
    out.mkdir()

    generated = generator.generate(out)

    pb2 = next(p for p in generated if p.name == "assistant_pb2.py")
    assert pb2.read_bytes() != (ROOT / "src/maily/ai/v1/assistant_pb2.py").read_bytes()
