"""support-audit: policy-as-code audit of support tiers and billing.

The public API for notebooks lives in :mod:`audit.api` (``run_audit``, ``explain``) and
:func:`audit.policy.loader.load_policy`.
"""

__version__ = "0.1.0"
