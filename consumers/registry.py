"""Which pipeline stages are installed and ready here, and how to build each one's spec.

A stage is ready when its module imports and, if it defines `available(settings)`, that says
so (e.g. its model weights are present). The CLI, the demo and the process manager all ask
here, so a stage without its model is reported missing instead of crashing at start-up.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

from etude.settings import Settings, get_settings
from etude.stage import StageSpec
from schemas import StageName

# module holding `<stage>_spec(settings) -> StageSpec` (and optionally `available(settings)`)
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


def stage_ready(stage: StageName, settings: Settings | None = None) -> bool:
    module_name = STAGE_MODULES[stage]
    if not _module_present(module_name):
        return False
    available: Callable[[Settings], bool] | None = getattr(
        importlib.import_module(module_name), "available", None
    )
    return available is None or available(settings or get_settings())


def installed_stages(settings: Settings | None = None) -> dict[StageName, bool]:
    return {stage: stage_ready(stage, settings) for stage in STAGE_MODULES}


def missing_stages(settings: Settings | None = None) -> list[StageName]:
    return [stage for stage, ok in installed_stages(settings).items() if not ok]


def spec_factory(stage: StageName) -> Callable[[Settings], StageSpec]:
    module = importlib.import_module(STAGE_MODULES[stage])
    factory: Callable[[Settings], StageSpec] = getattr(module, f"{stage.value}_spec")
    return factory
