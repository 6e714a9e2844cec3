"""Errors raised for inputs the encoder cannot represent."""


class StructureError(ValueError):
    """A structure the encoder cannot handle; the message names the entry's position."""
