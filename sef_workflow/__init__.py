"""sef-workflow: the workflow and case-tracking engine of a Safeguarding Children Partnership.

Each assurance activity is a persisted state machine defined as data; every change goes
through :mod:`sef_workflow.service`, in one transaction that also writes the audit trail.
"""

__version__ = "0.1.0"
