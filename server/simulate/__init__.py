"""``fieldsync simulate``: a station's tablets through a shift and the end-of-shift rush,
driven by the reference client (``sync.client``) against a running server, then
reconciled against what the server stored."""
