"""``support-audit test``: policy test cases beside the policy, run through the real engine.

    >>> from audit.policytests import run_policy_tests
    >>> run = run_policy_tests("policies")
    >>> run.count("failed"), run.coverage.percent

The case format is documented in docs/policy-tests.md; :mod:`.cases` reads it, :mod:`.runner`
runs the cases, :mod:`.coverage` measures what they exercised, :mod:`.report` writes the text
and the JUnit XML.
"""

from audit.policytests.runner import CaseResult, TestRun, run_policy_tests

__all__ = ["CaseResult", "TestRun", "run_policy_tests"]
