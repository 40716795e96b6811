"""Training exports: the prepared latents, images and prompt embeddings laid out the way each real trainer reads
them. `collect` picks the samples and refuses mixed inputs, one module per format writes (and reads back) its
layout, `export` writes a whole export atomically and skips one whose inputs did not change."""
