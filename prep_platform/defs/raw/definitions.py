"""Raw downloads: MSR-VTT, VATEX, Panda-70M (instructions, subset, shards) and their checks."""

import dagster as dg

from prep_platform.defs.raw import msr_vtt, msr_vtt_checks, panda70m, vatex, vatex_panda_checks

defs = dg.Definitions(
    assets=[msr_vtt.msr_vtt_raw, vatex.vatex_raw, panda70m.panda70m_instructions, panda70m.panda70m_subset,
            panda70m.panda70m_shards],
    sensors=[panda70m.panda70m_shards_sensor],
    asset_checks=dg.load_asset_checks_from_modules([msr_vtt_checks, vatex_panda_checks]),
)
