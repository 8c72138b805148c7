"""Files shipped with ganforge (the digits feature extractor's weights)."""
