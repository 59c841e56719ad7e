"""Étude's segmentation network: one small U-Net giving both of oemer's map sets."""
