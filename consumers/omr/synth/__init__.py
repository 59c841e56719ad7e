"""Synthetic training pages: music21 corpus → verovio SVG → raster + pixel-exact label maps."""
