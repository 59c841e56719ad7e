"""Write the JSON Schema of every contract type: `python -m schemas.export [DIR]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.events import ArtifactCreated, DeadLetter, JobSubmitted, StageFailed, StageStarted
from schemas.ir import ScoreIRV1, ScoreIRV2

EXPORTED: dict[str, type[BaseModel]] = {
    "ArtifactCreated": ArtifactCreated,
    "JobSubmitted": JobSubmitted,
    "StageStarted": StageStarted,
    "StageFailed": StageFailed,
    "DeadLetter": DeadLetter,
    "ScoreIRV1": ScoreIRV1,
    "ScoreIRV2": ScoreIRV2,
}
DEFAULT_DIR = Path(__file__).parent / "jsonschema"


def _dump(schema: dict[str, object]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def render_all() -> dict[str, str]:
    """File name → JSON text, deterministic so a stale checked-in copy shows as a diff."""
    return {
        f"{name}.schema.json": _dump(model.model_json_schema()) for name, model in EXPORTED.items()
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else DEFAULT_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (target / name).write_text(text)
    print(f"wrote {len(EXPORTED)} schemas to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
