"""Seeded sample exports of a German hosting provider's support desk, with planted errors and
the ground truth an audit with the default policy must reproduce (docs/sample-data.md)."""

from audit.sample.generator import generate

__all__ = ["generate"]
