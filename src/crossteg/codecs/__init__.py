"""Signal codecs shared by several methods (payload frames, mel spectrograms, ...)."""
