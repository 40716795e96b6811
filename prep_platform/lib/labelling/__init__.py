"""Scenario labelling: the sentence-embedding labeller (the default), its caption embedding cache, the choice between
it and the keyword labeller (lib.scenarios), and the figures that measure a labeller against hand labels."""
