"""`python -m consumers.fingering`: run the fingering stage consumer."""

from consumers.fingering.stage import fingering_spec
from etude.service import run_stage

if __name__ == "__main__":
    run_stage(fingering_spec, component="etude.fingering")
