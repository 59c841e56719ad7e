"""``etude fingering ...``: train and evaluate the fingering model.

The data is read in place: ``--data`` (default ``../shared/data/fingering`` beside the repo, or
``$ETUDE_FINGERING_DATA``) and, optionally, a user's own copy of PIG (``--pig``), which cannot be
redistributed and is never copied.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

fingering_app = typer.Typer(help="Piano fingering model: train and evaluate.", no_args_is_help=True)

DataOpt = Annotated[
    Path | None,
    typer.Option("--data", help="Fingering corpus dir (default ../shared/data/fingering)."),
]
PigOpt = Annotated[
    Path | None,
    typer.Option("--pig", help="Your copy of the PIG dataset (uses its official split)."),
]


@fingering_app.command()
def train(
    data: DataOpt = None,
    pig: PigOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Where to write the weights (.pt).")] = Path(
        "fingering-model.pt"
    ),
    epochs: Annotated[int, typer.Option(help="Passes over the training windows.")] = 24,
    max_minutes: Annotated[float, typer.Option(help="Stop after this much training time.")] = 30.0,
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 1,
    version: Annotated[str, typer.Option(help="Version string stored with the weights.")] = "dev",
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train on the redistributable corpus (+ PIG's training split with --pig)."""
    from consumers.fingering.train import TrainConfig, run_training

    config = TrainConfig(epochs=epochs, max_minutes=max_minutes, threads=threads, seed=seed)
    record = run_training(
        data_dir=data,
        out_path=str(out),
        version=version,
        pig_dir=pig,
        config=config,
        log=typer.echo,
    )
    out.with_suffix(".json").write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
    typer.echo(f"wrote {out} and {out.with_suffix('.json')}")


@fingering_app.command()
def evaluate(
    data: DataOpt = None,
    pig: PigOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Dir for report.json (+ predicted PIG files).")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option(help="Weights to evaluate (default: the shipped ones).")
    ] = None,
    hand_size: Annotated[str, typer.Option(help="XXS, XS, S, M, L, XL or XXL.")] = "M",
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 1,
) -> None:
    """Held-out editorial marks, corpus test works, and (with --pig) M_gen/M_high/M_soft/M_rec."""
    import torch

    from consumers.fingering.evaluate import run_evaluation
    from consumers.fingering.transform import load_model

    torch.set_num_threads(threads)
    model = load_model(weights)
    report = run_evaluation(
        model,
        data_dir=data,
        pig_dir=pig,
        out_dir=out / "pig" if out else None,
        hand_size=hand_size,
        log=typer.echo,
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
        typer.echo(f"wrote {out / 'report.json'}")


@fingering_app.command()
def combine(
    weights: Annotated[list[Path], typer.Argument(help="Checkpoints of the same configuration.")],
    out: Annotated[Path, typer.Option("--out", help="Ensemble checkpoint to write.")],
    version: Annotated[str, typer.Option(help="Version string of the ensemble.")] = "dev",
) -> None:
    """Merge trained checkpoints into one ensemble file (potentials are averaged)."""
    import torch

    from consumers.fingering.model import save_checkpoint
    from consumers.fingering.transform import load_model

    models = [load_model(w) for w in weights]
    nets = [n for m in models for n in m.nets]
    records = []
    for w in weights:
        ckpt = torch.load(w, map_location="cpu", weights_only=True)
        records.append({"file": str(w), **ckpt.get("record", {})})
    save_checkpoint(
        str(out), nets, name=models[0].name, version=version, record={"members": records}
    )
    typer.echo(f"wrote {out}: ensemble of {len(nets)} networks")


if __name__ == "__main__":  # python -m producers.cli.fingering_cmd ... (before `etude` wires it)
    fingering_app()
