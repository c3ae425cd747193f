"""Editing the configuration: what the settings pages call when prefecture administrators
change municipalities, members, counterpart groups, counterpart assignments and rooms.
Framework-free: plain values in, an `Outcome` out. It writes the files itself (atomically)
and leaves the audit log and the reload to the caller.

By job:

- session: `apply`, `revert` (undo one earlier save) and `snapshot`, one save from start to
  end: the optimistic check against the form's snapshot, one save at a time per process,
  validation in a scratch
  copy, the write order, the diff for the audit log.
- changes: the `Change` kinds and how each is made on the tomlkit documents.
- layout: tomlkit helpers that keep comments, order and formatting as people wrote them.
- explain: the validator's problems in Japanese, mapped to the form fields.
"""

from hotline.config.editing.changes import ACTIONS, HQ_KEY, KINDS, Change
from hotline.config.editing.explain import FieldProblem
from hotline.config.editing.session import Outcome, apply, revert, snapshot

__all__ = ["ACTIONS", "HQ_KEY", "KINDS", "Change", "FieldProblem", "Outcome", "apply", "revert", "snapshot"]
