"""Checkpoint converters between other SAK implementations and this toolkit's students."""

from sak_core.convert.official import (
    Conversion,
    convert_official,
    export_official,
    official_config_for,
    official_to_student,
    read_official_checkpoint,
    student_to_official,
)
from sak_core.convert.official_config import OfficialConfig, parse_official_config
from sak_core.convert.official_keys import official_key_map

__all__ = [
    "Conversion",
    "OfficialConfig",
    "convert_official",
    "export_official",
    "official_config_for",
    "official_key_map",
    "official_to_student",
    "parse_official_config",
    "read_official_checkpoint",
    "student_to_official",
]
