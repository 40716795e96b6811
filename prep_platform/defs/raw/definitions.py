"""Raw downloads: MSR-VTT, VATEX, Panda-70M (instructions, subset, shards) and their checks."""

import dagster as dg

from prep_platform.defs.raw import assets, checks, panda70m, source_checks, vatex

defs = dg.Definitions(
    assets=[assets.msr_vtt_raw, vatex.vatex_raw, panda70m.panda70m_instructions, panda70m.panda70m_subset,
            panda70m.panda70m_shards],
    sensors=[panda70m.panda70m_shards_sensor],
    asset_checks=dg.load_asset_checks_from_modules([checks, source_checks]),
)
