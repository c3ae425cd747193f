"""Storage: every SQL statement, behind one facade."""

from hotline.storage.database import *  # noqa: F403
