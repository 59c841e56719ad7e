"""`python -m consumers.omr`: run the OMR stage consumer."""

from consumers.omr.stage import omr_spec
from etude.service import run_stage

if __name__ == "__main__":
    run_stage(omr_spec, component="etude.omr")
