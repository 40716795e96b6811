"""Encode every prompt variant of a scenario metadata file with the CogVideoX text encoder (the asset
prompt_embeddings, one scenario after another).

    python -m prep_platform.data_prep.encode_prompts --metadata data/metadata/scenario_metadata.parquet \\
        --output-dir data/prepared/prompt_embeds [--text-encoder-preset default|tiny] [--device auto] [--batch-size 8]
"""

from __future__ import annotations

import json
import sys

from prep_platform.data_prep._cli import EXIT_ENVIRONMENT, EXIT_OK, ProgressBars, SettingsParser, run_cli
from prep_platform.lib import pipeline
from prep_platform.lib.models.model_settings import TEXT_ENCODER_PRESETS
from prep_platform.lib.shards import shard_key
from prep_platform.lib.statuses import environment_failures


def build_parser() -> SettingsParser:
    parser = SettingsParser(
        prog="encode_prompts",
        description="T5 prompt embeddings (the model's own text encoder and tokenizer, max length 226, padded to max "
        "length, truncated) for every prompt variant of every clip, caption first; one file per distinct prompt "
        "named by its sha256 under <output-dir>/<encoder tag>/, recording model, revision, max length and tokenizer "
        "fingerprint. Identical prompts are encoded once; a run with nothing changed encodes nothing.",
    )
    parser.profile_option()
    parser.add_argument("--metadata", default=None, help="scenario metadata: the store build_scenario_metadata writes (default: "
                        "<data-root>/metadata/scenario_metadata.parquet), or a JSON {train, validation} document")
    parser.add_argument("--output-dir", default=None, help="prompt embeddings root (default: <data-root>/prepared/prompt_embeds)")
    parser.setting("--split", "splits", choices=("train", "validation", "all"))
    parser.setting("--scenarios", "scenarios_file")
    parser.add_argument("--scenario", action="append", help="only these scenarios (repeatable; default: all)")
    parser.add_argument("--shard", action="append",
                        help="only these shards of work (repeatable): a number (that shard of each chosen scenario) or "
                        "a partition key such as urban.0003 (default: every shard)")
    # The text encoder's settings (PrepSettings.text_encoder): meanings and defaults from lib.models.model_settings.
    parser.setting("--text-encoder-preset", "text_encoder.preset", choices=TEXT_ENCODER_PRESETS)
    parser.setting("--text-encoder", "text_encoder.model_id")
    parser.setting("--revision", "text_encoder.revision")
    parser.setting("--device", "text_encoder.device")
    parser.setting("--dtype", "text_encoder.dtype")
    parser.setting("--batch-size", "text_encoder.batch_size")
    parser.setting("--max-length", "text_encoder.max_length")
    return parser


def main(argv: list[str] | None = None) -> int:
    args, settings = build_parser().parse(argv)
    layout = settings.layout().relocated(metadata_file=pipeline.metadata_input(args.metadata), prompt_embeds_root=args.output_dir)
    shards = pipeline.chosen_shards(settings, layout, args.scenario, args.shard)

    encoder = pipeline.load_text_encoder(settings.text_encoder_settings(), settings.model())
    summary, machine_failures = {}, []
    for scenario, shard in shards:
        key = shard_key(scenario, shard)
        bars = ProgressBars(f"{key}: ")
        try:
            result = pipeline.encode_prompts(settings, layout, scenario, shard, encoder, progress=bars("prompts", unit="prompt"))
        finally:
            bars.close()
        summary[key] = {"prompts": len(result.rows), "distinct": len(result.prompts), **result.counts,
                             "prompts_per_s": round(result.counts.get("encoded", 0) / max(result.encode_seconds, 1e-9), 2)}
        machine_failures += environment_failures(result.rows)
    print(json.dumps({"encoder": encoder.tag(), "folder": str(layout.prompt_embedding_folder(encoder.tag())),
                      "shards": summary}, indent=1))
    if machine_failures:
        print(f"encode_prompts: {len(machine_failures)} prompt(s) failed (first: {machine_failures[0]['reason']}); "
              f"fix it and run the same command again: encoded prompts are kept", file=sys.stderr)
        return EXIT_ENVIRONMENT
    return EXIT_OK


if __name__ == "__main__":
    run_cli(main, "encode_prompts")
