"""``greenbench gpu-kit`` and ``greenbench gpu-check``: pack what an offline GPU node needs, and run the
check there (``greenbench.tools.gpukit``)."""

from __future__ import annotations

from pathlib import Path

from greenbench.pipeline import paths
from greenbench.tools.configs import DEFAULT_CONFIG, _config


def cmd_gpu_kit(args) -> int:
    """Pack the fine-tuned baseline (half precision), tokens and wheels for an offline GPU node."""
    from greenbench.tools.gpukit import make_kit

    cfg = _config(args)
    spec = cfg["models"][args.model]
    baseline = Path(paths.BASELINE.format(model=args.model))
    if not baseline.exists():
        raise FileNotFoundError(f"{baseline} does not exist: fine-tune first (`snakemake --cores 1 {baseline}`)")
    manifest = make_kit(
        baseline,
        paths.TOKENS.format(model=args.model, split="train"),
        paths.TOKENS.format(model=args.model, split="dev"),
        args.out,
        model_name=args.model,
        max_length=spec["max_length"],
        wheels=args.wheel or [],
        dtype=args.dtype,
        batch_size=cfg["evaluate"]["batch_size"],
    )
    print(
        f"GPU kit in {args.out}: {manifest['size_mb']} MiB, with the checkout {manifest['total_mb']} of the "
        f"{manifest['max_total_mb']} MiB one copy may carry ({manifest['source']}; wheels: "
        f"{', '.join(manifest['wheels']) or 'none'}); rounding changed {manifest['cpu_predictions_changed_by_rounding']} "
        f"of {manifest['dev_examples']} CPU predictions"
    )
    return 0


def cmd_gpu_check(args) -> int:
    """Validate the GPU paths from a kit: accuracy, energy trials, summary.md (no Snakemake needed)."""
    from greenbench.tools import gpukit as gpucheck

    gpucheck.node_environment()  # before anything imports torchao
    if args.list_pieces:
        for piece in gpucheck.plan_pieces():
            print(
                f"piece {piece.number}: {piece.description} ({len(piece.cells)} cells, {piece.settings} protocol, "
                f"{piece.trials} trials by default)"
            )
        return 0
    try:  # the data files are not on the node (the kit carries what the check reads): not looked for
        cfg, validated = _config(args, files_checked=False), "validated against the schema"
    except (
        ModuleNotFoundError
    ) as exc:  # a bare GPU node without jsonschema: the repository's own config, as CI validated it
        from greenbench.config.load import load_config, resolve_devices

        files = args.config or [DEFAULT_CONFIG]
        cfg = load_config([DEFAULT_CONFIG, *[f for f in files if f != DEFAULT_CONFIG]])
        cfg["study"]["devices"] = resolve_devices(cfg["study"]["devices"])
        validated = f"not schema-validated here ({exc.name} missing); {', '.join(files)} as committed"
    if args.estimate:
        piece = gpucheck.plan_pieces()[args.piece]
        energy = gpucheck.energy_settings(cfg["energy"], piece, args.tiny)
        parts = gpucheck.estimate_check_seconds(piece, energy, args.device, args.trials or piece.trials)
        print(
            f"piece {piece.number} on {args.device}: about {parts['total_s']:.0f} s "
            f"({', '.join(f'{k} {v}' for k, v in parts.items())})"
        )
        return 0
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("no CUDA device is visible: use --device cpu for the rehearsal")
    out = Path(args.out) if args.out else gpucheck.default_out(args.device)
    if args.piece and not args.out:
        out = out.with_name(f"{out.name}-piece-{args.piece}")
    text = gpucheck.run_check(
        args.kit,
        out,
        cfg,
        device=args.device,
        piece=args.piece,
        trials=args.trials,
        tiny=args.tiny,
        budget_s=args.budget_s,
        validated=validated,
    )
    print(text)
    print(f"outputs in {out} (everything also in {out / gpucheck.ARCHIVE})")
    return 0
