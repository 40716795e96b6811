"""prep_platform: prepares video datasets for CogVideoX-style image-to-video LoRA fine-tuning."""

__version__ = "0.1.0"
