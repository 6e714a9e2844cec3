"""Pretrained weights shipped with the package (one folder per published model)."""
