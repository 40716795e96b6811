"""Export the prepared training set in a trainer's own layout (the asset training_exports, one format).

    python -m prep_platform.data_prep.export_training_set --metadata data/metadata/scenario_metadata.parquet \\
        --format cogvideox-factory --split train --output-dir data/exports/cogvideox-factory [--scenario urban]
"""

from __future__ import annotations

import json

from prep_platform.data_prep._cli import SettingsParser, existing_folder, run_cli
from prep_platform.lib import pipeline
from prep_platform.lib.exports.export import DTYPES, FORMATS, ExportRequest


def build_parser() -> SettingsParser:
    parser = SettingsParser(
        prog="export_training_set",
        description="Write the clips of the training indexes (their latents, conditioning images and prompt "
        "embeddings) in the layout a trainer loads as it is: cogvideox-factory, cogvideo-finetune (CogVideo's "
        "finetune cache), finetrainers (precomputed data) or diffusers-videos (windows as mp4 + captions). Each "
        "augmentation and prompt variant is its own stem, listed in a seeded order that keeps a clip's stems apart; "
        "export.json maps every stem to its clip and prints the trainer's launch command. The frame size comes from "
        "the prepared data (no size options). The new export is read back by the trainer's rules before it "
        "replaces the folder, which must be new, empty or an earlier export; with unchanged inputs nothing is "
        "rewritten.",
    )
    parser.profile_option()
    parser.add_argument("--format", required=True, choices=sorted(FORMATS), dest="export_format",
                        help="the trainer's layout (required)")
    parser.add_argument("--metadata", default=None, help="scenario metadata: the store build_scenario_metadata writes (default: "
                        "<data-root>/metadata/scenario_metadata.parquet), or a JSON {train, validation} document")
    parser.setting("--split", "export_split", choices=("train", "validation", "all"))
    parser.add_argument("--output-dir", default=None, help="the export folder: new, empty, or an earlier export "
                        "(one holding export.json); anything else is refused (default: <data-root>/exports/<format>)")
    parser.add_argument("--scenario", action="append", help="only these scenarios (repeatable; default: all)")
    parser.add_argument("--latents-dir", default=None, type=existing_folder("latent caches"),
                        help="latent caches and training indexes (default: <data-root>/prepared/latents)")
    parser.add_argument("--prompt-embeds-dir", default=None, type=existing_folder("prompt embeddings"),
                        help="prompt embeddings (default: <data-root>/prepared/prompt_embeds)")
    parser.add_argument("--dtype", choices=DTYPES, default="bf16",
                        help="cogvideo-finetune: the dtype of the latent cache, which must be the dtype you train in "
                        "(the trainer casts the prompt embeddings to it; printed as --mixed_precision) (default: %(default)s)")
    parser.add_argument("--trainer-model-name", default=None,
                        help="cogvideo-finetune: the trainer's --model_name (cogvideox-i2v or cogvideox1.5-i2v; "
                        "default: from the latents' VAE)")
    parser.add_argument("--order-seed", type=int, default=0, help="seed of the stems' shuffled order (default: %(default)s)")
    parser.setting("--scenarios", "scenarios_file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args, settings = build_parser().parse(argv)
    layout = settings.layout().relocated(metadata_file=pipeline.metadata_input(args.metadata), latents_root=args.latents_dir,
                                         prompt_embeds_root=args.prompt_embeds_dir)
    request = ExportRequest(dtype=args.dtype, trainer_model_name=args.trainer_model_name, order_seed=args.order_seed)
    result = pipeline.export_training_set(settings, layout, args.export_format, scenarios=args.scenario,
                                          output=args.output_dir, request=request)
    export = result.export
    print(json.dumps({"export": str(result.folder), "format": args.export_format, "state": result.state,
                      "stems": result.stems, "counts": export["counts"], "lossy": export["lossy"],
                      "left_out": export.get("left_out", [])[:20],
                      "scenarios_without_training_index": export.get("scenarios_without_training_index", []),
                      "read_back_s": result.read_back_s, "launch": export["launch"]}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    run_cli(main, "export_training_set")
