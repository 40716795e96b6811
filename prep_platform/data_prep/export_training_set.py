"""Export the prepared training set in a trainer's own layout (the asset training_exports, one format).

    python -m prep_platform.data_prep.export_training_set --metadata data/metadata/scenario_metadata.json \\
        --format cogvideox-factory --split train --output-dir data/exports/cogvideox-factory [--scenario urban]
"""

from __future__ import annotations

import json

from prep_platform.data_prep._cli import SettingsParser, run_cli
from prep_platform.lib import pipeline
from prep_platform.lib.exports.export import FORMATS, export_problems


def build_parser() -> SettingsParser:
    parser = SettingsParser(
        prog="export_training_set",
        description="Write the clips of the training indexes (their latents, conditioning images and prompt "
        "embeddings) in the layout a trainer loads as it is: cogvideox-factory, cogvideo-finetune (CogVideo's "
        "finetune cache), finetrainers (precomputed data) or diffusers-videos (windows as mp4 + captions). Each "
        "augmentation and prompt variant is its own stem; export.json maps every stem to its clip. The export "
        "replaces the folder only once complete; with unchanged inputs nothing is rewritten.",
    )
    parser.add_argument("--format", required=True, choices=sorted(FORMATS), dest="export_format")
    parser.add_argument("--metadata", default=None, help="scenario metadata JSON (default: <data-root>/metadata/scenario_metadata.json)")
    parser.setting("--split", "export_split", choices=("train", "validation", "all"))
    parser.add_argument("--output-dir", default=None, help="the export folder (default: <data-root>/exports/<format>)")
    parser.add_argument("--scenario", action="append", help="only these scenarios (repeatable; default: all)")
    parser.add_argument("--latents-dir", default=None, help="latent caches and training indexes (default: <data-root>/prepared/latents)")
    parser.add_argument("--prompt-embeds-dir", default=None, help="prompt embeddings (default: <data-root>/prepared/prompt_embeds)")
    parser.setting("--scenarios", "scenarios_file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args, settings = build_parser().parse(argv)
    layout = settings.layout().relocated(metadata_file=args.metadata, latents_root=args.latents_dir,
                                         prompt_embeds_root=args.prompt_embeds_dir)
    result = pipeline.export_training_set(settings, layout, args.export_format, scenarios=args.scenario,
                                          output=args.output_dir)
    problems = export_problems(result.folder)
    export = result.export
    print(json.dumps({"export": str(result.folder), "format": args.export_format, "state": result.state,
                      "stems": result.stems, "counts": export["counts"], "lossy": export["lossy"],
                      "scenarios_without_training_index": export.get("scenarios_without_training_index", []),
                      "launch_flags": export["launch_flags"], "problems": problems[:20]}, indent=1))
    return 0 if not problems else 1


if __name__ == "__main__":
    run_cli(main, "export_training_set")
