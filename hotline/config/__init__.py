"""Configuration: loading and validating counterparts.toml and rooms/, the relay rule, editing."""

from hotline.config.loader import *  # noqa: F403
