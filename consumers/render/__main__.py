"""`python -m consumers.render`: run the render stage consumer."""

from consumers.render.stage import render_spec
from etude.service import run_stage

if __name__ == "__main__":
    run_stage(render_spec, component="etude.render")
