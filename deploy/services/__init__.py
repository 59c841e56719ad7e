"""One module per server of the local stack; each says how to start, probe and provision it."""
