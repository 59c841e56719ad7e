"""Which pipeline stages are installed here, and how to build each one's spec."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

from etude.settings import Settings
from etude.stage import StageSpec
from schemas import StageName

# module holding `<stage>_spec(settings) -> StageSpec`
STAGE_MODULES: dict[StageName, str] = {
    StageName.OMR: "consumers.omr.stage",
    StageName.FINGERING: "consumers.fingering.stage",
    StageName.RENDER: "consumers.render.stage",
}


def _module_present(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def installed_stages() -> dict[StageName, bool]:
    return {stage: _module_present(module) for stage, module in STAGE_MODULES.items()}


def missing_stages() -> list[StageName]:
    return [stage for stage, ok in installed_stages().items() if not ok]


def spec_factory(stage: StageName) -> Callable[[Settings], StageSpec]:
    module = importlib.import_module(STAGE_MODULES[stage])
    factory: Callable[[Settings], StageSpec] = getattr(module, f"{stage.value}_spec")
    return factory
