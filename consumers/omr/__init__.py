"""OMR: PDF pages → Symbolic Score IR v1, with oemer's later stages fed by Étude's own network."""
