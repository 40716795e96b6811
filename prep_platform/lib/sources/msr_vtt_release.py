"""Where the MSR-VTT release lives on the Hugging Face Hub, and its file names there: the settings' defaults,
kept apart from the downloader so that reading the settings does not load the Hub client."""

DEFAULT_REPO_ID = "friedrichor/MSR-VTT"
DEFAULT_ANNOTATION_FILE = "raw_data/MSRVTT_data.json"
DEFAULT_VIDEOS_ARCHIVE = "MSRVTT_Videos.zip"
